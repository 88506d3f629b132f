package sim

import (
	"context"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	schedmetrics "k8s.io/kubernetes/pkg/scheduler/metrics"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/gpufit"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/plugintest"
)

func shippedProfile(t *testing.T) Profile {
	t.Helper()
	ps, err := LoadProfiles("../../config/scheduler-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps[0].Name != "gpu-scheduler" {
		t.Fatalf("profiles = %+v", ps)
	}
	return ps[0]
}

func TestScheduleUsesTheProfilesPlugins(t *testing.T) {
	nodes := []*v1.Node{
		plugintest.GPUNode("idle-8", "96", "768Gi", 8),
		plugintest.GPUNode("busy-8", "96", "768Gi", 8),
		plugintest.GPUNode("cpu", "32", "128Gi", 0),
	}
	s, err := New(context.Background(), shippedProfile(t), nodes, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Fill busy-8 to 7 GPUs: the only node a 7-GPU Pod fits on tightly.
	for _, step := range []struct {
		pod  *v1.Pod
		want string
	}{
		{plugintest.GPUPod("seven", "8", "8Gi", 7).Obj(), ""},
		{plugintest.GPUPod("one", "1", "1Gi", 1).Obj(), ""},
		{plugintest.GPUPod("cpu-only", "1", "1Gi", 0).Obj(), ""},
	} {
		p, err := s.Schedule(step.pod)
		if err != nil {
			t.Fatal(err)
		}
		if p.Node == "" {
			t.Fatalf("%s not placed: %v", step.pod.Name, SortedReasons(p.Reasons))
		}
		if step.want != "" && p.Node != step.want {
			t.Errorf("%s on %s, want %s", step.pod.Name, p.Node, step.want)
		}
	}
	// Best fit: the 1-GPU pod went to the node the 7-GPU pod used, leaving the other 8-GPU node whole.
	var whole int
	for _, ni := range s.Nodes() {
		if ni.Node().Name != "cpu" && len(ni.GetPods()) == 0 {
			whole++
		}
	}
	if whole != 1 {
		t.Errorf("best fit should leave one 8-GPU node idle, even of CPU-only pods; pods per node: %v", podsPerNode(s))
	}
	p, err := s.Schedule(plugintest.GPUPod("nine", "1", "1Gi", 9).Obj())
	if err != nil {
		t.Fatal(err)
	}
	if p.Node != "" || p.Reasons[gpufit.ReasonTooFewGPUs] != 2 || p.Reasons[gpufit.ReasonNoGPUs] != 1 {
		t.Errorf("9-GPU pod: node %q reasons %v", p.Node, p.Reasons)
	}
}

func podsPerNode(s *Simulator) map[string]int {
	m := map[string]int{}
	for _, ni := range s.Nodes() {
		m[ni.Node().Name] = len(ni.GetPods())
	}
	return m
}

func TestScheduleIsDeterministicPerSeed(t *testing.T) {
	run := func(seed int64) []string {
		var nodes []*v1.Node
		for i := 0; i < 30; i++ {
			nodes = append(nodes, plugintest.GPUNode(fmt.Sprintf("n%02d", i), "64", "256Gi", 8))
		}
		s, err := New(context.Background(), shippedProfile(t), nodes, seed)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for i := 0; i < 60; i++ {
			p, err := s.Schedule(plugintest.GPUPod(fmt.Sprintf("p%02d", i), "1", "1Gi", 1+i%4).Obj())
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, p.Node)
		}
		return out
	}
	a, b, c := run(7), run(7), run(8)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("same seed, different placements:\n%v\n%v", a, b)
	}
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Errorf("seeds 7 and 8 broke every tie the same way; ties are not drawn from the seed")
	}
}

func TestNumFeasibleNodesToFind(t *testing.T) {
	p := func(v int32) *int32 { return &v }
	for _, tt := range []struct {
		pct  *int32
		n    int
		want int
	}{
		{nil, 50, 50}, {nil, 1213, 497}, {nil, 5000, 500}, {nil, 100000, 5000}, {p(100), 1213, 1213}, {p(10), 500, 100},
	} {
		if got := numFeasibleNodesToFind(tt.pct, tt.n); got != tt.want {
			t.Errorf("numFeasibleNodesToFind(%v, %d) = %d, want %d", tt.pct, tt.n, got, tt.want)
		}
	}
}

func TestBaselineProfiles(t *testing.T) {
	for name := range Baselines {
		p, err := BaselineProfile(name)
		if err != nil || p.Name != name {
			t.Fatalf("%s: %v %+v", name, err, p.Name)
		}
		s, err := New(context.Background(), p, []*v1.Node{plugintest.GPUNode("n", "8", "8Gi", 2, gpu.DefaultModelLabel, "T4")}, 1)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// Baselines honour model constraints and account shares, as the trace demands of every policy.
		v100 := plugintest.GPUPod("v100", "1", "1Gi", 1).Annotation(gpu.ModelAnnotation, "V100M32").Obj()
		if p, err := s.Schedule(v100); err != nil || p.Node != "" {
			t.Errorf("%s placed a V100-only pod on a T4 node: %+v %v", name, p, err)
		}
		for i := 0; i < 4; i++ {
			share := plugintest.GPUPod(fmt.Sprint("half", i), "1", "1Gi", 0).Annotation(gpu.FractionAnnotation, "0.5").Obj()
			if p, err := s.Schedule(share); err != nil || p.Node == "" {
				t.Errorf("%s: half %d not placed: %+v %v", name, i, p, err)
			}
		}
		if p, _ := s.Schedule(plugintest.GPUPod("fifth-half", "1", "1Gi", 0).Annotation(gpu.FractionAnnotation, "0.5").Obj()); p.Node != "" {
			t.Errorf("%s: a fifth half fit on 2 GPUs", name)
		}
	}
	if _, err := BaselineProfile("nope"); err == nil {
		t.Error("unknown baseline accepted")
	}
}

// The simulator serves no metrics: kube-scheduler's per-call plugin counter, which the Score
// goroutines of one run (and parallel runs) would all increment, is never created.
func TestPluginEvaluationCounterOff(t *testing.T) {
	if _, err := New(context.Background(), shippedProfile(t), []*v1.Node{plugintest.GPUNode("n", "8", "32Gi", 1)}, 1); err != nil {
		t.Fatal(err)
	}
	if schedmetrics.PluginEvaluationTotal.IsCreated() {
		t.Errorf("%s is on in the simulator", evaluationMetric)
	}
}
