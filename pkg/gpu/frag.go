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

// maxThresholds bounds the distinct per-GPU shares a Workload tells apart, so measuring a node needs
// only fixed scratch space; shares beyond it are rounded down onto their neighbours.
const maxThresholds = 128

// Workload is a distribution of Pod shapes, prepared so that measuring a node's fragmentation costs
// one pass over its GPUs plus one comparison per shape, and allocates nothing.
type Workload struct {
	gpuShapes []preparedShape
	// thresholds are the distinct per-GPU shares of the GPU shapes, ascending.
	thresholds []int64
	// weight is the total weight; noGPUWeight the part that asks for no GPU.
	weight, noGPUWeight float64
	// models maps a lower-case model to its bit in preparedShape.models.
	models map[string]uint64
	// nodeModels caches a node label value (any case) to its bit, so measuring does not allocate.
	nodeModels sync.Map
}

type preparedShape struct {
	milliCPU, memory, gpus int64
	threshold              int
	weight                 float64
	// models is the set of accepted model bits; 0 accepts any model.
	models uint64
	// anyModelBits is set when the shape names more models than fit the bit set: it then accepts
	// every model, erring towards calling capacity usable.
	anyModelBits bool
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
	for _, s := range shapes {
		if s.Weight <= 0 || s.GPUs == 0 {
			continue
		}
		ps := preparedShape{milliCPU: s.MilliCPU, memory: s.Memory, gpus: s.GPUs, weight: s.Weight,
			threshold: sort.Search(len(w.thresholds), func(i int) bool { return w.thresholds[i] > s.GPUMilli }) - 1}
		for _, m := range s.Models {
			m = strings.ToLower(m)
			bit, ok := w.models[m]
			if !ok && len(w.models) < 64 {
				bit = 1 << len(w.models)
				w.models[m] = bit
				ok = true
			}
			if !ok {
				ps.anyModelBits = true
			}
			ps.models |= bit
		}
		if ps.anyModelBits {
			ps.models = 0
		}
		w.gpuShapes = append(w.gpuShapes, ps)
	}
	return w
}

// Empty reports whether the workload has no shapes to measure against.
func (w *Workload) Empty() bool { return w.weight == 0 }

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
	// For each threshold: how many GPUs have at least that much free, and how much free capacity
	// sits in slices below it.
	var usable, small [maxThresholds]int64
	for _, f := range free {
		for t, m := range w.thresholds {
			if f >= m {
				usable[t]++
			} else {
				small[t] += f
			}
		}
	}
	modelBit := w.modelBit(model)
	frag := w.noGPUWeight * float64(total)
	for i := range w.gpuShapes {
		s := &w.gpuShapes[i]
		fits := s.milliCPU <= milliCPU && s.memory <= memory && usable[s.threshold] >= s.gpus &&
			(s.models == 0 || s.models&modelBit != 0)
		if fits {
			frag += s.weight * float64(small[s.threshold])
		} else {
			frag += s.weight * float64(total)
		}
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
	for i := range w.gpuShapes {
		if s := &w.gpuShapes[i]; s.milliCPU <= milliCPU && s.memory <= memory {
			return false
		}
	}
	return len(w.gpuShapes) > 0
}
