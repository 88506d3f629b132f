package sim

import (
	"math"
	"sort"
)

// distribution summarises durations (sum is theirs): mean, median, 95th percentile and maximum, by
// nearest rank. All zero when there are none. values is sorted in place.
func distribution(values []int64, sum float64) (mean, p50, p95, maxValue float64) {
	n := len(values)
	if n == 0 {
		return 0, 0, 0, 0
	}
	sort.Slice(values, func(a, b int) bool { return values[a] < values[b] })
	return sum / float64(n), float64(nearestRank(values, 50)), float64(nearestRank(values, 95)), float64(values[n-1])
}

// nearestRank is the p-th percentile of sorted by the nearest-rank method.
func nearestRank(sorted []int64, p float64) int64 {
	k := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(k, 1), len(sorted))-1]
}

// allocationOverTime is the peak and the time-weighted mean of a timeline's allocation; a timeline
// of one instant has that instant's allocation as its mean.
func allocationOverTime(tl []TimePoint) (peak, mean float64) {
	var area float64
	for k, pt := range tl {
		peak = max(peak, pt.AllocPct)
		if k+1 < len(tl) {
			area += pt.AllocPct * float64(tl[k+1].Time-pt.Time)
		}
	}
	if n := len(tl); n > 0 {
		if span := tl[n-1].Time - tl[0].Time; span > 0 {
			mean = area / float64(span)
		} else {
			mean = tl[n-1].AllocPct
		}
	}
	return peak, mean
}
