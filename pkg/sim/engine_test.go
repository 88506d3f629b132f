package sim

import (
	"context"
	"fmt"
	"math/rand"
	"testing"

	v1 "k8s.io/api/core/v1"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	schedmetrics "k8s.io/kubernetes/pkg/scheduler/metrics"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/gpufit"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/gpufragmentation"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/plugintest"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim/trace"
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
	s, err := New(context.Background(), shippedProfile(t), trace.Cluster{Nodes: nodes}, 1)
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
		s, err := New(context.Background(), shippedProfile(t), trace.Cluster{Nodes: nodes}, seed)
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

// TestFindFeasibleMatchesASequentialScan: the chunked, parallel Filter finds what one node at a time
// would, from the same start: the same nodes in the same order, the reasons of the same nodes, and
// the same next start. 700 nodes, a third without GPUs, take several chunks.
func TestFindFeasibleMatchesASequentialScan(t *testing.T) {
	var nodes []*v1.Node
	for i := 0; i < 700; i++ {
		nodes = append(nodes, plugintest.GPUNode(fmt.Sprintf("n%03d", i), "64", "256Gi", []int{0, 2, 8}[i%3]))
	}
	s, err := New(context.Background(), shippedProfile(t), trace.Cluster{Nodes: nodes}, 1)
	if err != nil {
		t.Fatal(err)
	}
	s.percentage = nil // adaptive: 315 of 700, so the scan stops inside a chunk
	for i, gpus := range []int{1, 4, 1, 2, 4, 1, 1} {
		pod := plugintest.GPUPod(fmt.Sprintf("p%d", i), "1", "1Gi", gpus).Obj()
		state := framework.NewCycleState()
		if _, status, _ := s.fw.RunPreFilterPlugins(s.ctx, state, pod); !status.IsSuccess() {
			t.Fatal(status.AsError())
		}
		all := s.Nodes()
		want, wantReasons, start := []string{}, map[string]int{}, s.nextStart
		processed := 0
		for ; processed < len(all) && len(want) < numFeasibleNodesToFind(nil, len(all)); processed++ {
			ni := all[(start+processed)%len(all)]
			if status := s.fw.RunFilterPlugins(s.ctx, state, pod, ni); status.IsSuccess() {
				want = append(want, ni.Node().Name)
			} else {
				for _, r := range status.Reasons() {
					wantReasons[r]++
				}
			}
		}
		feasible, reasons, err := s.findFeasible(state, pod, all, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := []string{}
		for _, ni := range feasible {
			got = append(got, ni.Node().Name)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(reasons) != fmt.Sprint(wantReasons) || s.nextStart != (start+processed)%len(all) {
			t.Fatalf("pod %d (%d GPUs): found %d nodes from %v, reasons %v, next start %d; a sequential scan finds %d from %v, reasons %v, next start %d",
				i, gpus, len(got), got[:min(3, len(got))], reasons, s.nextStart, len(want), want[:min(3, len(want))], wantReasons, (start+processed)%len(all))
		}
		// Place a Pod, so the next Pods see a changed cluster.
		if _, err := s.Schedule(plugintest.GPUPod(fmt.Sprintf("fill%d", i), "1", "1Gi", gpus).Obj()); err != nil {
			t.Fatal(err)
		}
	}
}

// A cancelled run stops with its error: the parallel Filter skips nodes once the context is done,
// and a skipped node must not count as feasible.
func TestFindFeasibleStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nodes := []*v1.Node{plugintest.GPUNode("a", "8", "8Gi", 2), plugintest.GPUNode("b", "8", "8Gi", 2)}
	s, err := New(ctx, shippedProfile(t), trace.Cluster{Nodes: nodes}, 1)
	if err != nil {
		t.Fatal(err)
	}
	pod := plugintest.GPUPod("p", "1", "1Gi", 1).Obj()
	state := framework.NewCycleState()
	if _, status, _ := s.fw.RunPreFilterPlugins(ctx, state, pod); !status.IsSuccess() {
		t.Fatal(status.AsError())
	}
	cancel()
	if feasible, _, err := s.findFeasible(state, pod, s.Nodes(), nil); err == nil {
		t.Errorf("cancelled: %d nodes found feasible and no error", len(feasible))
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
		s, err := New(context.Background(), p, trace.Cluster{Nodes: []*v1.Node{plugintest.GPUNode("n", "8", "8Gi", 2, gpu.DefaultModelLabel, "T4")}}, 1)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// GPUFit filters first, as in our profile: on a full cluster its integer check turns most nodes
		// away before NodeResourcesFit's costlier one (the order changes no placement).
		if filters := s.fw.ListPlugins().Filter.Enabled; filters[0].Name != gpufit.Name {
			t.Errorf("%s filters with %s first, want %s", name, filters[0].Name, gpufit.Name)
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
	if _, err := New(context.Background(), shippedProfile(t), trace.Cluster{Nodes: []*v1.Node{plugintest.GPUNode("n", "8", "32Gi", 1)}}, 1); err != nil {
		t.Fatal(err)
	}
	if schedmetrics.PluginEvaluationTotal.IsCreated() {
		t.Errorf("%s is on in the simulator", evaluationMetric)
	}
}

// TestOrderedTies: the fgd baseline breaks ties by a node order fixed per seed, as FGD's simulator
// does, so equal placements pile onto the first node in that order; kube-scheduler's random ties
// spread them.
func TestOrderedTies(t *testing.T) {
	var nodes []*v1.Node
	for i := 0; i < 6; i++ {
		nodes = append(nodes, plugintest.GPUNode(fmt.Sprint("n", i), "64", "256Gi", 8))
	}
	fgd, err := BaselineProfile("fgd")
	if err != nil || !fgd.OrderedTies {
		t.Fatalf("fgd baseline: %v, ordered ties %v", err, fgd.OrderedTies)
	}
	random := fgd
	random.OrderedTies = false
	place := func(p Profile, seed int64) map[string]int {
		s, err := New(context.Background(), p, trace.Cluster{Nodes: nodes}, seed)
		if err != nil {
			t.Fatal(err)
		}
		on := map[string]int{}
		for i := 0; i < 4; i++ {
			pl, err := s.Schedule(plugintest.GPUPod(fmt.Sprint("p", i), "1", "1Gi", 1).Obj())
			if err != nil || pl.Node == "" {
				t.Fatalf("pod %d: %+v %v", i, pl, err)
			}
			on[pl.Node]++
		}
		return on
	}
	firsts := map[string]bool{}
	for seed := int64(1); seed <= 3; seed++ {
		rank := rand.New(rand.NewSource(seed)).Perm(len(nodes))
		first := ""
		for i, r := range rank {
			if r == 0 {
				first = nodes[i].Name
			}
		}
		if got := place(fgd, seed); got[first] != 4 {
			t.Errorf("seed %d, ordered ties: placed %v, want all 4 on %s", seed, got, first)
		}
		firsts[first] = true
		if got := place(random, seed); len(got) == 1 {
			t.Errorf("seed %d, random ties: all 4 on one node %v", seed, got)
		}
	}
	if len(firsts) == 1 {
		t.Errorf("every seed put its ties first on the same node %v", firsts)
	}
}

// TestFGDBaselineIsFGDAsPublished: FGD's measure without our additions, as the only Score, over
// every feasible node.
func TestFGDBaselineIsFGDAsPublished(t *testing.T) {
	p, err := BaselineProfile("fgd")
	if err != nil {
		t.Fatal(err)
	}
	if pct := p.Config.PercentageOfNodesToScore; pct == nil || *pct != 100 {
		t.Errorf("percentageOfNodesToScore = %v, want 100", pct)
	}
	var args *config.GPUFragmentationArgs
	for _, pc := range p.Config.PluginConfig {
		if a, ok := pc.Args.(*config.GPUFragmentationArgs); ok {
			args = a
		}
	}
	if args == nil || args.StrandedPercent != 0 || args.ScarcityPercent != 0 {
		t.Errorf("GPUFragmentation args = %+v, want strandedPercent and scarcityPercent 0", args)
	}
	s, err := New(context.Background(), p, trace.Cluster{Nodes: []*v1.Node{plugintest.GPUNode("n", "8", "8Gi", 2)}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	plugins := s.fw.ListPlugins()
	for _, point := range []struct {
		name    string
		enabled []schedconfig.Plugin
	}{{"score", plugins.Score.Enabled}, {"preScore", plugins.PreScore.Enabled}} {
		if len(point.enabled) != 1 || point.enabled[0].Name != gpufragmentation.Name {
			t.Errorf("%s plugins = %+v, want GPUFragmentation alone", point.name, point.enabled)
		}
	}
}
