package sim

import (
	"math"
	"testing"
)

func TestFFDCeiling(t *testing.T) {
	tests := []struct {
		name    string
		shares  []int64
		arrived int64
		gpus    int64
		want    float64
	}{
		{name: "whole GPUs only", arrived: 10_000, gpus: 10, want: 100},
		// Two 0.81 shares leave 0.19 each; two 0.1 shares fill 0.2 of it: 0.18 of 10 GPUs lost.
		{name: "remainders filled by small shares", shares: []int64{810, 100, 810, 100}, arrived: 10_000, gpus: 10, want: 98.2},
		// 0.6+0.3 on one GPU, 0.3 alone on another: 0.8 of a GPU no whole-GPU demand can use.
		{name: "a share alone on its GPU", shares: []int64{300, 600, 300}, arrived: 10_000, gpus: 10, want: 92},
		{name: "whole-GPU demand short of the GPUs left", shares: []int64{500, 500}, arrived: 3_000, gpus: 10, want: 30},
		{name: "more GPUs needed than there are: the fullest kept", shares: []int64{810, 810, 700}, arrived: 2_320, gpus: 2, want: 81},
		{name: "no capacity", shares: []int64{500}, arrived: 500, gpus: 0, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FFDCeiling(tt.shares, tt.arrived, tt.gpus); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("FFDCeiling = %v, want %v", got, tt.want)
			}
		})
	}
}
