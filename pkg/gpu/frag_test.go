package gpu

import (
	"math"
	"math/rand/v2"
	"sort"
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
		// cpuPerGPU is the node's allocatable CPU per GPU; 0 counts no GPU as short of CPU.
		cpuPerGPU int64
		// nonGPUCPU is requested by Pods that hold no GPU.
		nonGPUCPU int64
		// stranded is the workload's stranded weight; 0 is FGD as published.
		stranded float64
		model    string
		free     []int64
		want     float64
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
		// The node comes with 4 CPUs per GPU, but other Pods left 4 CPUs for its 2 free GPUs: one
		// copy of the shape fits, and the GPU it cannot feed counts as fragmented.
		{name: "GPUs the CPU left cannot feed", shapes: []Shape{whole1}, cpu: 4000, cpuPerGPU: 4000, stranded: 1, free: []int64{1000, 1000}, want: 1000},
		{name: "counted at the stranded weight", shapes: []Shape{whole1}, cpu: 4000, cpuPerGPU: 4000, stranded: 0.5, free: []int64{1000, 1000}, want: 500},
		{name: "not counted by FGD as published", shapes: []Shape{whole1}, cpu: 4000, cpuPerGPU: 4000, free: []int64{1000, 1000}, want: 0},
		{name: "the largest slices are fed first", shapes: []Shape{half}, cpu: 1000, cpuPerGPU: 4000, stranded: 1, free: []int64{600, 1000}, want: 600},
		// Built with 2 CPUs per GPU, the node could never feed both GPUs: not fragmentation that a
		// placement caused, so not counted (else CPU-poor nodes look free to fill).
		{name: "a node built short of CPU", shapes: []Shape{whole1}, cpu: 4000, cpuPerGPU: 2000, stranded: 1, free: []int64{1000, 1000}, want: 0},
		{name: "CPU enough for every free GPU", shapes: []Shape{whole1}, cpu: 8000, cpuPerGPU: 8000, stranded: 1, free: []int64{1000, 1000}, want: 0},
		{name: "shortfall weighted per shape", shapes: []Shape{whole1, {MilliCPU: 1000, Memory: 1 << 30, GPUs: 1, GPUMilli: 1000, Weight: 1}},
			cpu: 4000, cpuPerGPU: 4000, stranded: 1, free: []int64{1000, 1000}, want: 500},
		// A DaemonSet's CPU is not taken from the GPUs: only GPU Pods' use counts.
		{name: "CPU held by Pods without GPUs", shapes: []Shape{whole1}, cpu: 4000, nonGPUCPU: 4000, cpuPerGPU: 4000, stranded: 1, free: []int64{1000, 1000}, want: 0},
		// 3 GPUs for a 2-GPU shape: the third is never usable by whole copies, fed or not.
		{name: "a leftover GPU is not unfed", shapes: []Shape{{MilliCPU: 2000, Memory: 1 << 30, GPUs: 2, GPUMilli: 1000, Weight: 1}},
			cpu: 2000, cpuPerGPU: 4000, stranded: 1, free: []int64{1000, 1000, 1000}, want: 0},
		{name: "a 2-GPU shape is fed in pairs", shapes: []Shape{{MilliCPU: 4000, Memory: 1 << 30, GPUs: 2, GPUMilli: 1000, Weight: 1}},
			cpu: 4000, cpuPerGPU: 2000, stranded: 1, free: []int64{1000, 1000, 1000, 1000}, want: 2000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NewWorkload(tt.shapes).WithStrandedWeight(tt.stranded).Fragmentation(Room{MilliCPU: tt.cpu, Memory: 8 << 30, MilliCPUPerGPU: tt.cpuPerGPU, NonGPUMilliCPU: tt.nonGPUCPU, Model: tt.model}, tt.free)
			if !near(got, tt.want) {
				t.Errorf("Fragmentation = %v, want %v", got, tt.want)
			}
		})
	}
}

// fragmentationByDefinition is the measure shape by shape, without thresholds or groups: FGD's,
// plus, at strandedWeight, the usable GPUs that whole copies of the shape could not be fed for with
// what GPU Pods left, beyond what the node's own CPU and memory per GPU would leave unfed, the
// largest slices fed first.
func fragmentationByDefinition(shapes []Shape, strandedWeight float64, room Room, free []int64) float64 {
	var total int64
	for _, f := range free {
		total += f
	}
	// copies of s that cpu and memory feed, each on s.GPUs GPUs.
	copies := func(s Shape, cpu, mem int64) int64 {
		n := int64(math.MaxInt64)
		if s.MilliCPU > 0 {
			n = max(cpu, 0) / s.MilliCPU
		}
		if s.Memory > 0 {
			n = min(n, max(mem, 0)/s.Memory)
		}
		return n
	}
	var weight, frag float64
	for _, s := range shapes {
		weight += s.Weight
		var usable []int64
		small := int64(0)
		for _, f := range free {
			if f >= s.GPUMilli {
				usable = append(usable, f)
			} else {
				small += f
			}
		}
		accepts := len(s.Models) == 0
		for _, m := range s.Models {
			accepts = accepts || strings.EqualFold(m, room.Model)
		}
		n := int64(len(usable))
		if s.GPUs == 0 || s.MilliCPU > room.MilliCPU || s.Memory > room.Memory || n < s.GPUs || !accepts {
			frag += s.Weight * float64(total)
			continue
		}
		frag += s.Weight * float64(small)
		// Whole copies only; CPU and memory held by Pods without GPUs are not counted as taken.
		placeable := n - n%s.GPUs
		fed := min(placeable, min(n, copies(s, room.MilliCPU+room.NonGPUMilliCPU, room.Memory+room.NonGPUMemory))*s.GPUs)
		ownCPU, ownMemory := room.MilliCPU, room.Memory
		if room.MilliCPUPerGPU > 0 {
			ownCPU = n * room.MilliCPUPerGPU
		}
		if room.MemoryPerGPU > 0 {
			ownMemory = n * room.MemoryPerGPU
		}
		own := min(placeable, min(n, copies(s, ownCPU, ownMemory))*s.GPUs)
		sort.Slice(usable, func(i, j int) bool { return usable[i] > usable[j] })
		for _, f := range usable[min(fed, own):own] {
			frag += s.Weight * strandedWeight * float64(f)
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
		stranded := []float64{0, 0.5, 1}[r.IntN(3)]
		w := NewWorkload(shapes).WithStrandedWeight(stranded)
		for range 20 {
			free := make([]int64, r.IntN(21)) // beyond 16 GPUs too: a rarer path
			for i := range free {
				free[i] = []int64{0, MilliPerGPU, 50 * r.Int64N(20)}[r.IntN(3)]
			}
			room := Room{MilliCPU: 1000 * r.Int64N(20), Memory: int64(r.IntN(80)) << 30, Model: models[r.IntN(len(models))]}
			if r.IntN(4) > 0 { // else FGD's measure as published; one of them zero at times
				room.MilliCPUPerGPU, room.MemoryPerGPU = 1000*r.Int64N(16), int64(r.IntN(64))<<30
				if r.IntN(2) == 0 {
					room.NonGPUMilliCPU, room.NonGPUMemory = 500*r.Int64N(8), int64(r.IntN(16))<<30
				}
			}
			got, want := w.Fragmentation(room, free), fragmentationByDefinition(shapes, stranded, room, free)
			if math.Abs(got-want) > 1e-6*max(1, want) {
				t.Fatalf("Fragmentation(%+v, %v) = %v, want %v for %+v", room, free, got, want, shapes)
			}
		}
	}
}

func TestWorkloadEmptyAndAllocationFree(t *testing.T) {
	if !NewWorkload(nil).Empty() || NewWorkload([]Shape{{GPUs: 1, GPUMilli: 1000}}).Empty() != true {
		t.Error("a workload with no weight must be empty")
	}
	w := NewWorkload([]Shape{{MilliCPU: 1, GPUs: 1, GPUMilli: 500, Models: []string{"a10"}, Weight: 2}, {GPUs: 2, GPUMilli: 1000, Weight: 1}}).WithStrandedWeight(0.5)
	free := []int64{1000, 300, 700}
	// Less CPU than the node's own per GPU: the measure counts the GPUs it cannot feed.
	room := Room{MilliCPU: 1000, Memory: 1 << 30, MilliCPUPerGPU: 4000, MemoryPerGPU: 1 << 30, Model: "A10"}
	w.Fragmentation(room, free) // warm the model cache
	if allocs := testing.AllocsPerRun(100, func() { w.Fragmentation(room, free) }); allocs != 0 {
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
	if got := w.Fragmentation(Room{MilliCPU: 1, Memory: 1}, []int64{1000}); got != 0 {
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
	if a, b := anyModel.Fragmentation(Room{MilliCPU: 1, Memory: 1}, []int64{500}), anyModel.Fragmentation(Room{MilliCPU: 1, Memory: 1, Model: "T4"}, []int64{500}); a != b {
		t.Errorf("Fragmentation depends on the model: %v vs %v", a, b)
	}
	if !NewWorkload([]Shape{{GPUs: 1, GPUMilli: 1000, Models: []string{"t4"}, Weight: 1}}).NeedsModel() {
		t.Error("a workload with a model constraint needs the node's model")
	}
}

// BenchmarkFragmentation measures one node under an openb-like learned workload (300 shapes), with
// FGD's measure as published and with stranded GPUs counted, on a node that has its own CPU per free
// GPU left (FGD's fit decides) and on one short of it (each shape of a group is walked).
func BenchmarkFragmentation(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	var shapes []Shape
	for range 300 {
		s := Shape{MilliCPU: 1000 * (1 + r.Int64N(32)), Memory: int64(1+r.IntN(128)) << 30, Weight: float64(1 + r.IntN(20))}
		switch r.IntN(10) {
		case 0: // CPU only
		case 1, 2, 3:
			s.GPUs, s.GPUMilli = 1, []int64{810, 470, 320, 650, 230, 160}[r.IntN(6)]
		default:
			s.GPUs, s.GPUMilli = []int64{1, 1, 1, 1, 2, 4, 8}[r.IntN(7)], MilliPerGPU
		}
		shapes = append(shapes, s)
	}
	free := []int64{1000, 1000, 1000, 1000, 190, 530}
	rooms := map[string]Room{
		"fed":   {MilliCPU: 80000, Memory: 300 << 30, MilliCPUPerGPU: 12000, MemoryPerGPU: 48 << 30},
		"short": {MilliCPU: 20000, Memory: 100 << 30, MilliCPUPerGPU: 12000, MemoryPerGPU: 48 << 30},
	}
	for _, weight := range []struct {
		name string
		w    float64
	}{{"published", 0}, {"stranded50", 0.5}} {
		w := NewWorkload(shapes).WithStrandedWeight(weight.w)
		for _, node := range []string{"fed", "short"} {
			room := rooms[node]
			b.Run(weight.name+"/"+node, func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					w.Fragmentation(room, free)
				}
			})
		}
	}
}

// TestFragmentationOf: the fragmentation kept on a state is the state's own under the workload and
// room asked; another workload, another room or a changed copy of the state computes afresh.
func TestFragmentationOf(t *testing.T) {
	whole := NewWorkload([]Shape{{MilliCPU: 4000, Memory: 1 << 30, GPUs: 1, GPUMilli: 1000, Weight: 1}})
	half := NewWorkload([]Shape{{MilliCPU: 1000, Memory: 1 << 30, GPUs: 1, GPUMilli: 500, Weight: 1}})
	s := &NodeState{Allocatable: 4}
	s.Shared[0], s.SharedGPUs = 700, 1 // 300 free on GPU 0, three whole GPUs
	roomy, tight := Room{MilliCPU: 64000, Memory: 1 << 40}, Room{MilliCPU: 2000, Memory: 1 << 40}
	fresh := func(w *Workload, s *NodeState, room Room) float64 {
		var buf [MaxGPUsPerNode]int64
		return w.Fragmentation(room, s.FreeSlices(buf[:0]))
	}
	check := func(name string, w *Workload, s *NodeState, room Room) {
		t.Helper()
		if got, want := w.FragmentationOf(s, room), fresh(w, s, room); got != want {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	check("first", whole, s, roomy)
	check("again", whole, s, roomy)
	check("another room", whole, s, tight)
	check("another workload", half, s, tight)
	check("the first again", whole, s, roomy)
	cp := *s                       // with the memo
	cp.Take(Demand{Share: 500}, 1) // GPU 1 keeps 500 free: a slice no whole-GPU shape can use
	check("a changed copy", whole, &cp, roomy)
	check("the original after its copy", whole, s, roomy)
	if a, b := fresh(whole, s, roomy), fresh(whole, &cp, roomy); a == b {
		t.Errorf("state and changed copy both %v: the test should tell them apart", a)
	}
	if allocs := testing.AllocsPerRun(100, func() { whole.FragmentationOf(s, roomy) }); allocs != 0 {
		t.Errorf("a repeated FragmentationOf allocates %v times", allocs)
	}
}
