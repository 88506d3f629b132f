package gpu

import (
	"math"
	"testing"

	v1 "k8s.io/api/core/v1"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestFragmentation(t *testing.T) {
	whole1 := Shape{MilliCPU: 4000, Memory: 1 << 30, GPUs: 1, GPUMilli: 1000, Weight: 1}
	half := Shape{MilliCPU: 1000, Memory: 1 << 30, GPUs: 1, GPUMilli: 500, Weight: 1}
	cpuOnly := Shape{MilliCPU: 1000, Memory: 1 << 30, Weight: 1}
	big := Shape{MilliCPU: 1000, Memory: 1 << 30, GPUs: 4, GPUMilli: 1000, Weight: 1}
	v100 := Shape{MilliCPU: 1000, Memory: 1 << 30, GPUs: 1, GPUMilli: 1000, Models: []string{"v100m16", "v100m32"}, Weight: 1}
	tests := []struct {
		name   string
		shapes []Shape
		cpu    int64
		model  string
		free   []int64
		want   float64
	}{
		{name: "no free GPU, no fragmentation", shapes: []Shape{whole1}, cpu: 8000, free: nil, want: 0},
		{name: "whole GPUs are usable by a 1-GPU shape", shapes: []Shape{whole1}, cpu: 8000, free: []int64{1000, 1000}, want: 0},
		{name: "a partial GPU is fragmented for whole-GPU shapes", shapes: []Shape{whole1}, cpu: 8000, free: []int64{1000, 400}, want: 400},
		{name: "a partial GPU is usable by a smaller share", shapes: []Shape{half}, cpu: 8000, free: []int64{600}, want: 0},
		{name: "a slice below the share is fragmented", shapes: []Shape{half}, cpu: 8000, free: []int64{400, 1000}, want: 400},
		{name: "CPU-only shapes see all free GPU as fragmented", shapes: []Shape{cpuOnly}, cpu: 8000, free: []int64{1000, 300}, want: 1300},
		{name: "not enough CPU strands every GPU", shapes: []Shape{whole1}, cpu: 3000, free: []int64{1000, 1000}, want: 2000},
		{name: "too few GPUs for the shape", shapes: []Shape{big}, cpu: 8000, free: []int64{1000, 1000}, want: 2000},
		{name: "a model the shape does not accept", shapes: []Shape{v100}, cpu: 8000, model: "T4", free: []int64{1000}, want: 1000},
		{name: "a model it accepts, any case", shapes: []Shape{v100}, cpu: 8000, model: "V100M32", free: []int64{1000}, want: 0},
		{name: "weights average the shapes", shapes: []Shape{whole1, {MilliCPU: 1000, Memory: 1 << 30, Weight: 3}}, cpu: 8000, free: []int64{1000}, want: 750},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NewWorkload(tt.shapes).Fragmentation(tt.cpu, 8<<30, tt.model, tt.free)
			if !near(got, tt.want) {
				t.Errorf("Fragmentation = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWorkloadEmptyAndAllocationFree(t *testing.T) {
	if !NewWorkload(nil).Empty() || NewWorkload([]Shape{{GPUs: 1, GPUMilli: 1000}}).Empty() != true {
		t.Error("a workload with no weight must be empty")
	}
	w := NewWorkload([]Shape{{MilliCPU: 1, GPUs: 1, GPUMilli: 500, Models: []string{"a10"}, Weight: 2}, {GPUs: 2, GPUMilli: 1000, Weight: 1}})
	free := []int64{1000, 300, 700}
	w.Fragmentation(8000, 1<<30, "A10", free) // warm the model cache
	if allocs := testing.AllocsPerRun(100, func() { w.Fragmentation(8000, 1<<30, "A10", free) }); allocs != 0 {
		t.Errorf("Fragmentation allocates %v times per call", allocs)
	}
}

func TestManyThresholdsStayBounded(t *testing.T) {
	var shapes []Shape
	for m := int64(1); m < 1000; m += 3 {
		shapes = append(shapes, Shape{GPUs: 1, GPUMilli: m, Weight: 1})
	}
	w := NewWorkload(shapes)
	if len(w.thresholds) > maxThresholds {
		t.Fatalf("%d thresholds kept, at most %d allowed", len(w.thresholds), maxThresholds)
	}
	// Every shape fits a fully free GPU whatever its rounded threshold.
	if got := w.Fragmentation(1, 1, "", []int64{1000}); got != 0 {
		t.Errorf("Fragmentation of an idle GPU = %v, want 0", got)
	}
}

func TestShapeOf(t *testing.T) {
	pod := st.MakePod().Name("p").Req(map[v1.ResourceName]string{v1.ResourceCPU: "2", v1.ResourceMemory: "4Gi"}).Obj()
	pod.Annotations = map[string]string{FractionAnnotation: "0.25", ModelAnnotation: "A10|T4"}
	s, err := ShapeOf(pod)
	if err != nil {
		t.Fatal(err)
	}
	if s.MilliCPU != 2000 || s.Memory != 4<<30 || s.GPUs != 1 || s.GPUMilli != 250 || len(s.Models) != 2 || s.Models[0] != "a10" {
		t.Errorf("ShapeOf = %+v", s)
	}
	pod.Annotations[ModelAnnotation] = "a||b"
	if _, err := ShapeOf(pod); err == nil {
		t.Error("a malformed model list was accepted")
	}
}
