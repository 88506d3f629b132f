package gpu

import (
	"sort"
	"strings"
	"sync"

	v1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"
	fwk "k8s.io/kube-scheduler/framework"
)

// Shape is a kind of Pod in a workload, and how often it occurs: the unit of FGD's fragmentation
// measure (Weng et al., USENIX ATC'23).
type Shape struct {
	MilliCPU, Memory int64
	// GPUs is the number of GPUs; GPUMilli the share of each, MilliPerGPU for whole GPUs.
	GPUs, GPUMilli int64
	// Models the Pod accepts, lower case; empty means any.
	Models []string
	// Weight is the shape's share of the workload; weights need not sum to one.
	Weight float64
}

// maxThresholds bounds the distinct per-GPU shares a Workload tells apart, and so its groups;
// shares beyond it are rounded down onto their neighbours.
const maxThresholds = 128

// Workload is a distribution of Pod shapes, prepared so that measuring a node's fragmentation costs
// sorting its GPUs' free slices plus one step per group of shapes, and allocates nothing.
type Workload struct {
	// groups are the GPU shapes by what decides whether they fit besides CPU and memory.
	groups []shapeGroup
	// thresholds are the distinct per-GPU shares of the GPU shapes, ascending.
	thresholds []int64
	// weight is the total weight; noGPUWeight the part that asks for no GPU.
	weight, noGPUWeight float64
	// models maps a lower-case model to its bit in shapeGroup.models.
	models map[string]uint64
	// nodeModels caches a node label value (any case) to its bit, so measuring does not allocate.
	nodeModels sync.Map
	// constrained is the GPU demand of the shapes limited to some models, by model set.
	constrained []modelDemand
	// strandedWeight is how much of a GPU that a node's CPU or memory left cannot feed counts as
	// fragmented (WithStrandedWeight); 0 is FGD's measure as published.
	strandedWeight float64
}

// WithStrandedWeight sets how much of a GPU counts as fragmented, for a shape, when the node's CPU
// or memory left cannot feed it though the node's own per-GPU share would: 0 (the default) is FGD's
// measure as published, 1 counts the whole GPU. Set it before the workload is shared.
func (w *Workload) WithStrandedWeight(weight float64) *Workload {
	w.strandedWeight = weight
	return w
}

// modelDemand is the share of the workload's GPU demand (GPUs x thousandths) that only the models
// in bits can serve.
type modelDemand struct {
	bits  uint64
	share float64
}

// shapeGroup is the GPU shapes with one per-GPU share threshold, GPU count and model set. A learned
// workload holds hundreds of shapes differing only in CPU and memory; most nodes have room for the
// largest of a group, and then the whole group fits in one comparison.
type shapeGroup struct {
	// share is the per-GPU share the group's shapes need free on each of gpus GPUs (their threshold).
	share int64
	gpus  int64
	// models is the set of accepted model bits; 0 accepts any model.
	models uint64
	weight float64
	// maxCPU and maxMemory are the largest requests in the group.
	maxCPU, maxMemory int64
	// shapes are the group's CPU and memory requests, by ascending CPU.
	shapes []sizedShape
}

type sizedShape struct {
	milliCPU, memory int64
	weight           float64
}

// NewWorkload prepares shapes for Fragmentation.
func NewWorkload(shapes []Shape) *Workload {
	w := &Workload{models: map[string]uint64{}}
	var shares []int64
	for _, s := range shapes {
		if s.Weight <= 0 {
			continue
		}
		w.weight += s.Weight
		if s.GPUs == 0 {
			w.noGPUWeight += s.Weight
			continue
		}
		shares = append(shares, s.GPUMilli)
	}
	sort.Slice(shares, func(i, j int) bool { return shares[i] < shares[j] })
	for _, m := range shares {
		if n := len(w.thresholds); n == 0 || w.thresholds[n-1] != m {
			w.thresholds = append(w.thresholds, m)
		}
	}
	if n := len(w.thresholds); n > maxThresholds {
		// Keep evenly spaced representatives; a share maps to the largest kept one not above it.
		kept := make([]int64, 0, maxThresholds)
		for i := 0; i < maxThresholds; i++ {
			kept = append(kept, w.thresholds[i*n/maxThresholds])
		}
		w.thresholds = kept
	}
	type groupKey struct {
		threshold int
		gpus      int64
		models    uint64
	}
	index := map[groupKey]int{}
	var demand float64
	byModels := map[uint64]float64{}
	for _, s := range shapes {
		if s.Weight <= 0 || s.GPUs == 0 {
			continue
		}
		k := groupKey{gpus: s.GPUs, models: w.modelBits(s.Models),
			threshold: sort.Search(len(w.thresholds), func(i int) bool { return w.thresholds[i] > s.GPUMilli }) - 1}
		d := s.Weight * float64(s.GPUs*s.GPUMilli)
		demand += d
		if k.models != 0 {
			byModels[k.models] += d
		}
		i, ok := index[k]
		if !ok {
			i = len(w.groups)
			index[k] = i
			w.groups = append(w.groups, shapeGroup{share: w.thresholds[k.threshold], gpus: k.gpus, models: k.models})
		}
		g := &w.groups[i]
		g.weight += s.Weight
		g.maxCPU, g.maxMemory = max(g.maxCPU, s.MilliCPU), max(g.maxMemory, s.Memory)
		g.shapes = append(g.shapes, sizedShape{milliCPU: s.MilliCPU, memory: s.Memory, weight: s.Weight})
	}
	for bits, d := range byModels {
		if demand > 0 {
			w.constrained = append(w.constrained, modelDemand{bits: bits, share: d / demand})
		}
	}
	// Map order is random; summing in a fixed order keeps scores reproducible.
	sort.Slice(w.constrained, func(i, j int) bool { return w.constrained[i].bits < w.constrained[j].bits })
	// By ascending share, so that measuring a node sweeps its sorted free slices once.
	sort.SliceStable(w.groups, func(i, j int) bool { return w.groups[i].share < w.groups[j].share })
	for i := range w.groups {
		sort.SliceStable(w.groups[i].shapes, func(a, b int) bool {
			return w.groups[i].shapes[a].milliCPU < w.groups[i].shapes[b].milliCPU
		})
	}
	return w
}

// modelBits is the bit set of the models a shape accepts, registering new ones; 0 (any model) when
// it names more models than the bit set holds, erring towards calling capacity usable.
func (w *Workload) modelBits(models []string) uint64 {
	var bits uint64
	for _, m := range models {
		m = strings.ToLower(m)
		bit, ok := w.models[m]
		if !ok {
			if len(w.models) == 64 {
				return 0
			}
			bit = 1 << len(w.models)
			w.models[m] = bit
		}
		bits |= bit
	}
	return bits
}

// Empty reports whether the workload has no shapes to measure against.
func (w *Workload) Empty() bool { return w.weight == 0 }

// NeedsModel reports whether any shape is limited to some GPU models. When none is, Fragmentation
// ignores its model argument, and callers need not read the node's label (a map lookup per node
// that costs more than the measure itself on a large cluster).
func (w *Workload) NeedsModel() bool { return len(w.models) > 0 }

// Room is what the fragmentation measure reads from a node besides its free GPU slices.
type Room struct {
	// MilliCPU and Memory are free: allocatable less requested.
	MilliCPU, Memory int64
	// MilliCPUPerGPU and MemoryPerGPU are the node's allocatable per GPU: the CPU and memory that come
	// with a GPU on this node. Zero counts no GPU as short of that resource; both zero is FGD's
	// measure as published.
	MilliCPUPerGPU, MemoryPerGPU int64
	// NonGPUMilliCPU and NonGPUMemory are requested by Pods that hold no GPU. They are not counted as
	// taken from the GPUs: a DaemonSet's few CPUs would otherwise make every node look short, and
	// AntiStranding's Filter keeps CPU-only Pods off what free GPUs need.
	NonGPUMilliCPU, NonGPUMemory int64
	// Model is the node's GPU model label value; read only when the workload NeedsModel.
	Model string
}

// RoomOf reads the Room of a node whose GPU state is state; the model label only when the workload
// needs it (a map lookup per node costs more than the measure itself on a large cluster).
func (w *Workload) RoomOf(nodeInfo fwk.NodeInfo, state *NodeState, view *View, modelLabel string) Room {
	alloc, used := nodeInfo.GetAllocatable(), nodeInfo.GetRequested()
	r := Room{MilliCPU: alloc.GetMilliCPU() - used.GetMilliCPU(), Memory: alloc.GetMemory() - used.GetMemory(),
		MilliCPUPerGPU: state.MilliCPUPerGPU, MemoryPerGPU: state.MemoryPerGPU,
		NonGPUMilliCPU: state.NonGPUMilliCPU, NonGPUMemory: state.NonGPUMemory}
	if w.NeedsModel() {
		r.Model, _ = view.Model(nodeInfo, modelLabel)
	}
	return r
}

// own is the CPU and memory that come with gpus GPUs of the node; what is left where a per-GPU
// figure is zero, so that resource never counts as short.
func (r Room) own(gpus int64) (milliCPU, memory int64) {
	milliCPU, memory = r.MilliCPU, r.Memory
	if r.MilliCPUPerGPU > 0 {
		milliCPU = gpus * r.MilliCPUPerGPU
	}
	if r.MemoryPerGPU > 0 {
		memory = gpus * r.MemoryPerGPU
	}
	return milliCPU, memory
}

// Less is the Room left after a Pod takes milliCPU and memory, and GPUs if holdsGPU.
func (r Room) Less(milliCPU, memory int64, holdsGPU bool) Room {
	r.MilliCPU, r.Memory = r.MilliCPU-milliCPU, r.Memory-memory
	if !holdsGPU {
		r.NonGPUMilliCPU, r.NonGPUMemory = r.NonGPUMilliCPU+milliCPU, r.NonGPUMemory+memory
	}
	return r
}

// Fragmentation is the expected fragmentation of a node under the workload, in GPU thousandths:
// for each shape, weighted, the free GPU capacity that shape could not use there. As in FGD, that
// is all of it when the shape asks for no GPU or does not fit the node (CPU, memory, model or
// GPUs), else the free slices smaller than the shape's per-GPU share. Beyond FGD (with a stranded
// weight), it also counts, at that weight, the GPUs the shape could take but the node's free CPU or
// memory could not feed, when the node's own CPU and memory per GPU would have fed them: capacity
// stranded by what other Pods took, not by how the node was built (counting that too makes CPU-poor
// nodes look free to fill, and strands more). The largest slices are assumed fed first. free holds
// each GPU's free thousandths.
// fragMemo is a state's fragmentation under one workload and Room (Workload.FragmentationOf).
type fragMemo struct {
	state *NodeState
	w     *Workload
	room  Room
	value float64
}

// FragmentationOf is Fragmentation of the state's free slices with room, kept on the state for the
// last workload and room asked. A state is one node's as of one NodeInfo generation (and DRA
// allocation), so GPUFragmentation's Score, which asks for every node in every cycle, computes it
// once per state and workload, and finds it on the state it has just read, not in a cache of its
// own (at 5,000 nodes that lookup cost more than the rest of the Score). The memo names the state
// it was made for: a copy of the state, which may be changed, computes afresh.
func (w *Workload) FragmentationOf(s *NodeState, room Room) float64 {
	if m, _ := s.frag.Load().(*fragMemo); m != nil && m.state == s && m.w == w && m.room == room {
		return m.value
	}
	var buf [MaxGPUsPerNode]int64
	v := w.Fragmentation(room, s.FreeSlices(buf[:0]))
	s.frag.Store(&fragMemo{state: s, w: w, room: room, value: v})
	return v
}

func (w *Workload) Fragmentation(room Room, free []int64) float64 {
	var total int64
	for _, f := range free {
		total += f
	}
	if total == 0 || w.weight == 0 {
		return 0
	}
	// The free slices in ascending order; sweeping them with the groups' ascending shares gives, for
	// each group, how many GPUs have its share free and how much free capacity sits below it.
	var buf [16]int64
	sorted := buf[:0]
	if len(free) > len(buf) {
		sorted = make([]int64, 0, len(free))
	}
	for _, f := range free {
		i := len(sorted)
		sorted = append(sorted, f)
		for ; i > 0 && sorted[i-1] > f; i-- {
			sorted[i] = sorted[i-1]
		}
		sorted[i] = f
	}
	// top[n] is the sum of the n largest free slices (what n fed copies of a shape use), filled on
	// the first node short of CPU or memory.
	var topBuf [17]int64
	var top []int64
	below, small := 0, int64(0)
	modelBit := w.modelBit(room.Model)
	frag := w.noGPUWeight * float64(total)
	for i := range w.groups {
		g := &w.groups[i]
		for below < len(sorted) && sorted[below] < g.share {
			small += sorted[below]
			below++
		}
		usable := int64(len(sorted) - below)
		if usable < g.gpus || (g.models != 0 && g.models&modelBit == 0) {
			frag += g.weight * float64(total)
			continue
		}
		// What the node's own CPU and memory per GPU would leave for the usable GPUs, and what GPU
		// Pods left of it.
		ownCPU, ownMemory := room.own(usable)
		leftCPU, leftMemory := room.MilliCPU+room.NonGPUMilliCPU, room.Memory+room.NonGPUMemory
		// The common case: GPU Pods left at least that (or stranding is not counted), so no shape is
		// short of more than the node's build; FGD's fit decides.
		if w.strandedWeight == 0 || leftCPU >= ownCPU && leftMemory >= ownMemory {
			fit := g.weight
			if g.maxCPU > room.MilliCPU || g.maxMemory > room.Memory {
				fit = 0
				for _, s := range g.shapes {
					if s.milliCPU > room.MilliCPU {
						break
					}
					if s.memory <= room.Memory {
						fit += s.weight
					}
				}
			}
			frag += fit*float64(small) + (g.weight-fit)*float64(total)
			continue
		}
		if top == nil {
			top = topSums(sorted, topBuf[:0])
		}
		// Copies that take every GPU whole copies can; shapes fed that many, or not fitting once,
		// need no division.
		feedAll := usable / g.gpus
		for _, s := range g.shapes {
			if s.milliCPU > room.MilliCPU || s.memory > room.Memory {
				frag += s.weight * float64(total)
				continue
			}
			frag += s.weight * float64(small)
			if s.milliCPU*feedAll <= leftCPU && s.memory*feedAll <= leftMemory {
				continue
			}
			fed := fedGPUs(s.milliCPU, s.memory, g.gpus, usable, leftCPU, leftMemory)
			if own := fedGPUs(s.milliCPU, s.memory, g.gpus, usable, ownCPU, ownMemory); own > fed {
				frag += s.weight * w.strandedWeight * float64(top[own]-top[fed])
			}
		}
	}
	return frag / w.weight
}

// topSums appends to dst, for n from 0 to len(sorted), the sum of the n largest of sorted (ascending).
func topSums(sorted, dst []int64) []int64 {
	dst = append(dst, 0)
	for i := len(sorted) - 1; i >= 0; i-- {
		dst = append(dst, dst[len(dst)-1]+sorted[i])
	}
	return dst
}

// fedGPUs is how many of usable GPUs copies of a shape (milliCPU and memory per copy of gpus GPUs)
// can take with milliCPU and memory left to feed them: whole copies only, so never a leftover GPU
// fewer than gpus.
func fedGPUs(shapeCPU, shapeMemory, gpus, usable, milliCPU, memory int64) int64 {
	fed := usable - usable%gpus
	if shapeCPU > 0 {
		fed = min(fed, max(milliCPU, 0)/shapeCPU*gpus)
	}
	if shapeMemory > 0 {
		fed = min(fed, max(memory, 0)/shapeMemory*gpus)
	}
	return fed
}

func (w *Workload) modelBit(model string) uint64 {
	if bit, ok := w.nodeModels.Load(model); ok {
		return bit.(uint64)
	}
	bit := w.models[strings.ToLower(model)]
	w.nodeModels.Store(model, bit)
	return bit
}

// ShapeOf is a Pod's shape: its effective CPU and memory requests, its GPU demand, and the models
// its gpu-model annotation accepts. Weight is 1.
func ShapeOf(pod *v1.Pod) (Shape, error) {
	demand, err := PodDemand(pod)
	if err != nil {
		return Shape{}, err
	}
	return shapeOf(pod, demand)
}

// shapeOf is the Pod's shape with the given GPU demand.
func shapeOf(pod *v1.Pod, demand Demand) (Shape, error) {
	var err error
	reqs := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	s := Shape{MilliCPU: reqs.Cpu().MilliValue(), Memory: reqs.Memory().Value(), Weight: 1}
	switch {
	case demand.Whole > 0:
		s.GPUs, s.GPUMilli = demand.Whole, MilliPerGPU
	case demand.Share > 0:
		s.GPUs, s.GPUMilli = 1, demand.Share
	}
	if value, ok := pod.Annotations[ModelAnnotation]; ok {
		if s.Models, err = ParseList(ModelAnnotation, value); err != nil {
			return Shape{}, err
		}
	}
	return s, nil
}

// Strands reports whether no GPU shape of the workload fits the CPU and memory left, so that every
// free GPU there is stranded. A workload without GPU shapes strands nothing.
func (w *Workload) Strands(milliCPU, memory int64) bool {
	for i := range w.groups {
		for _, s := range w.groups[i].shapes {
			if s.milliCPU > milliCPU {
				break
			}
			if s.memory <= memory {
				return false
			}
		}
	}
	return len(w.groups) > 0
}
