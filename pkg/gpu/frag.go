package gpu

import (
	"sort"
	"strings"
	"sync"

	v1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"
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

// Fragmentation is FGD's expected fragmentation of a node under the workload, in GPU thousandths:
// for each shape, weighted, the free GPU capacity that shape could not use there. That is all of it
// when the shape asks for no GPU or does not fit the node (CPU, memory, model or GPUs), else the
// free slices smaller than the shape's per-GPU share. free holds each GPU's free thousandths.
func (w *Workload) Fragmentation(milliCPU, memory int64, model string, free []int64) float64 {
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
	below, small := 0, int64(0)
	modelBit := w.modelBit(model)
	frag := w.noGPUWeight * float64(total)
	for i := range w.groups {
		g := &w.groups[i]
		for below < len(sorted) && sorted[below] < g.share {
			small += sorted[below]
			below++
		}
		if int64(len(sorted)-below) < g.gpus || (g.models != 0 && g.models&modelBit == 0) {
			frag += g.weight * float64(total)
			continue
		}
		fit := g.weight
		if g.maxCPU > milliCPU || g.maxMemory > memory {
			fit = 0
			for _, s := range g.shapes {
				if s.milliCPU > milliCPU {
					break
				}
				if s.memory <= memory {
					fit += s.weight
				}
			}
		}
		frag += fit*float64(small) + (g.weight-fit)*float64(total)
	}
	return frag / w.weight
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
