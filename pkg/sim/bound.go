package sim

import (
	"sort"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
)

// FFDCeiling is the GPU allocation (% of gpus' capacity) that an offline packer reaches with the
// same arrivals: arrived thousandths of GPU demand, of which shares of one GPU (1-999 thousandths),
// packed first-fit decreasing, every GPU no share holds given to whole-GPU demand, CPU, memory and
// models ignored. It is a reference, not a proof (an optimal packing may do a little better), for
// how much of a policy's shortfall the shares' sizes alone explain: a share above half a GPU
// leaves a remainder only smaller shares can use.
func FFDCeiling(shares []int64, arrived, gpus int64) float64 {
	capacity := gpus * gpu.MilliPerGPU
	if capacity == 0 {
		return 0
	}
	sorted := append([]int64(nil), shares...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] > sorted[j] })
	var used []int64 // per GPU
	var total int64
	for _, s := range sorted {
		total += s
		placed := false
		for b := range used {
			if used[b]+s <= gpu.MilliPerGPU {
				used[b] += s
				placed = true
				break
			}
		}
		if !placed {
			used = append(used, s)
		}
	}
	allocated := total + min(arrived-total, (gpus-int64(len(used)))*gpu.MilliPerGPU)
	if int64(len(used)) > gpus {
		// More GPUs needed than there are: keep the fullest.
		sort.Slice(used, func(i, j int) bool { return used[i] > used[j] })
		allocated = 0
		for _, u := range used[:gpus] {
			allocated += u
		}
	}
	return 100 * float64(min(allocated, capacity)) / float64(capacity)
}
