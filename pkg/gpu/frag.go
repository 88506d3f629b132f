package gpu

import "strings"

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

// NodeFree is what a node has left: CPU, memory, and the free thousandths of each GPU.
type NodeFree struct {
	MilliCPU, Memory int64
	Model            string
	GPUFree          []int64
}

// Fragmentation is FGD's expected fragmentation of a node under a workload, in GPU milli: for each
// shape, weighted, the free GPU capacity that shape could not use there. That is all of it when the
// shape asks for no GPU or does not fit the node (CPU, memory, model or GPUs), else the free slices
// smaller than the shape's per-GPU share.
func Fragmentation(n NodeFree, shapes []Shape) float64 {
	var total int64
	for _, f := range n.GPUFree {
		total += f
	}
	if total == 0 {
		return 0
	}
	var frag, weights float64
	for i := range shapes {
		s := &shapes[i]
		weights += s.Weight
		if s.GPUs == 0 || !fits(n, s) {
			frag += s.Weight * float64(total)
			continue
		}
		var small int64
		for _, f := range n.GPUFree {
			if f < s.GPUMilli {
				small += f
			}
		}
		frag += s.Weight * float64(small)
	}
	if weights == 0 {
		return 0
	}
	return frag / weights
}

func fits(n NodeFree, s *Shape) bool {
	if s.MilliCPU > n.MilliCPU || s.Memory > n.Memory {
		return false
	}
	if len(s.Models) > 0 {
		ok := false
		for _, m := range s.Models {
			if strings.EqualFold(m, n.Model) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	var usable int64
	for _, f := range n.GPUFree {
		if f >= s.GPUMilli {
			usable++
		}
	}
	return usable >= s.GPUs
}
