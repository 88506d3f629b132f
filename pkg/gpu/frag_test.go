package gpu

import (
	"math"
	"math/rand/v2"
	"strings"
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

// fragmentationByDefinition is FGD's measure shape by shape, without thresholds or groups.
func fragmentationByDefinition(shapes []Shape, milliCPU, memory int64, model string, free []int64) float64 {
	var total int64
	for _, f := range free {
		total += f
	}
	var weight, frag float64
	for _, s := range shapes {
		weight += s.Weight
		usable, small := int64(0), int64(0)
		for _, f := range free {
			if f >= s.GPUMilli {
				usable++
			} else {
				small += f
			}
		}
		accepts := len(s.Models) == 0
		for _, m := range s.Models {
			accepts = accepts || strings.EqualFold(m, model)
		}
		if s.GPUs > 0 && s.MilliCPU <= milliCPU && s.Memory <= memory && usable >= s.GPUs && accepts {
			frag += s.Weight * float64(small)
		} else {
			frag += s.Weight * float64(total)
		}
	}
	if total == 0 || weight == 0 {
		return 0
	}
	return frag / weight
}

// Grouping shapes must not change the measure: random workloads and nodes against the definition.
func TestFragmentationMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	models := []string{"", "A100", "v100m32", "T4"}
	for range 300 {
		var shapes []Shape
		for range 1 + r.IntN(60) {
			s := Shape{MilliCPU: 1000 * r.Int64N(16), Memory: int64(r.IntN(64)) << 30, Weight: float64(1 + r.IntN(5))}
			switch r.IntN(4) {
			case 0: // CPU only
			case 1:
				s.GPUs, s.GPUMilli = 1, 50*(1+r.Int64N(19))
			default:
				s.GPUs, s.GPUMilli = []int64{1, 2, 4, 8}[r.IntN(4)], MilliPerGPU
			}
			if m := models[r.IntN(len(models))]; m != "" {
				s.Models = []string{m}
			}
			shapes = append(shapes, s)
		}
		w := NewWorkload(shapes)
		for range 20 {
			free := make([]int64, r.IntN(21)) // beyond 16 GPUs too: a rarer path
			for i := range free {
				free[i] = []int64{0, MilliPerGPU, 50 * r.Int64N(20)}[r.IntN(3)]
			}
			cpu, mem, model := 1000*r.Int64N(20), int64(r.IntN(80))<<30, models[r.IntN(len(models))]
			got, want := w.Fragmentation(cpu, mem, model, free), fragmentationByDefinition(shapes, cpu, mem, model, free)
			if math.Abs(got-want) > 1e-6*max(1, want) {
				t.Fatalf("Fragmentation(cpu %d, mem %d, %q, %v) = %v, want %v for %+v", cpu, mem, model, free, got, want, shapes)
			}
		}
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

func TestNeedsModel(t *testing.T) {
	anyModel := NewWorkload([]Shape{{GPUs: 1, GPUMilli: 1000, Weight: 1}})
	if anyModel.NeedsModel() {
		t.Error("a workload without model constraints needs no model")
	}
	// Its measure is indeed the same whatever the model.
	if a, b := anyModel.Fragmentation(1, 1, "", []int64{500}), anyModel.Fragmentation(1, 1, "T4", []int64{500}); a != b {
		t.Errorf("Fragmentation depends on the model: %v vs %v", a, b)
	}
	if !NewWorkload([]Shape{{GPUs: 1, GPUMilli: 1000, Models: []string{"t4"}, Weight: 1}}).NeedsModel() {
		t.Error("a workload with a model constraint needs the node's model")
	}
}
