package sim

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/plugintest"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim/trace"
)

const (
	leafLabel   = "network.gpu-scheduler.io/ib-leaf"
	fabricLabel = "network.gpu-scheduler.io/ib-fabric"
)

func topoNode(name string, gpus int, fabric, leaf string) *v1.Node {
	return plugintest.GPUNode(name, "128", "1Ti", gpus, fabricLabel, fabric, leafLabel, leaf)
}

// gangProfiles are the shipped profile and its plain-Coscheduling twin.
func gangProfiles(t *testing.T) (Profile, Profile) {
	t.Helper()
	shipped := shippedProfile(t)
	plain, err := WithoutTopology(shipped, "coscheduling")
	if err != nil {
		t.Fatal(err)
	}
	return shipped, plain
}

// runGangs runs jobs with p, reporting the shipped profile's topology levels.
func runGangs(t *testing.T, p Profile, nodes []*v1.Node, jobs []GangJob) *GangResult {
	t.Helper()
	res, err := RunGangs(context.Background(), p, trace.Cluster{Nodes: nodes}, jobs, TopologyLevels(shippedProfile(t)), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// A 2 x 8 job on a fabric whose leaf l0 has one idle 8-GPU node and leaf l1 two idle 16-GPU nodes.
// Best fit puts the first member on the 8-GPU node (it leaves no GPU idle), so plain Coscheduling
// splits the job over both leaves; gpu-scheduler plans the whole gang into l1, the one leaf with
// room for both members.
func TestRunGangsKeepsJobInsideLeaf(t *testing.T) {
	nodes := []*v1.Node{topoNode("a0", 8, "f", "l0"), topoNode("b0", 16, "f", "l1"), topoNode("b1", 16, "f", "l1")}
	jobs := []GangJob{{Name: "pair", Pods: 2, GPUsPerPod: 8, TopologyPreferred: "ib-leaf", Duration: 100}}
	shipped, plain := gangProfiles(t)

	ours := runGangs(t, shipped, nodes, jobs)
	if got := ours.Outcomes[0].Nodes; len(got) != 2 || got[0] == "a0" || got[1] == "a0" {
		t.Errorf("gpu-scheduler placed the pair on %v, want both in leaf l1 (b0, b1)", got)
	}
	want := []LevelShare{{Level: "ib-leaf", Label: leafLabel, Inside: 1, Share: 100}, {Level: "ib-fabric", Label: fabricLabel, Inside: 1, Share: 100}}
	if !reflect.DeepEqual(ours.Inside, want) {
		t.Errorf("gpu-scheduler inside: %+v, want %+v", ours.Inside, want)
	}

	theirs := runGangs(t, plain, nodes, jobs)
	got := theirs.Outcomes[0].Nodes
	if len(got) != 2 || (got[0] != "a0" && got[1] != "a0") {
		t.Errorf("coscheduling placed the pair on %v, want one member on a0 (best fit) and so split over leaves", got)
	}
	if theirs.Inside[0].Inside != 0 || theirs.Inside[1].Inside != 1 {
		t.Errorf("coscheduling inside: %+v, want 0 in one leaf, 1 in one fabric", theirs.Inside)
	}
}

// A job requiring one fabric: gpu-scheduler waits for the fabric that can hold it; coscheduling
// splits it at once, and the report counts that as a broken requirement.
func TestRunGangsRequiredFabric(t *testing.T) {
	nodes := []*v1.Node{topoNode("a0", 8, "fa", "fa-l0"), topoNode("a1", 8, "fa", "fa-l0"),
		topoNode("b0", 8, "fb", "fb-l0"), topoNode("b1", 8, "fb", "fb-l0")}
	jobs := []GangJob{
		{Name: "hold", Pods: 1, GPUsPerPod: 8, Arrival: 0, Duration: 100},
		{Name: "wide", Pods: 2, GPUsPerPod: 8, TopologyRequired: "ib-fabric", Arrival: 10, Duration: 50},
		{Name: "huge", Pods: 5, GPUsPerPod: 8, Arrival: 20, Duration: 50}, // more than the cluster: never
	}
	shipped, plain := gangProfiles(t)
	ours := runGangs(t, shipped, nodes, jobs)
	theirs := runGangs(t, plain, nodes, jobs)
	for _, r := range []*GangResult{ours, theirs} {
		if r.JobsPlaced != 2 || r.JobsNever != 1 || r.Outcomes[2].Start != -1 {
			t.Errorf("%s: placed %d, never %d, huge starts at %d; want 2, 1, -1", r.Profile, r.JobsPlaced, r.JobsNever, r.Outcomes[2].Start)
		}
	}
	// hold took one node of a fabric: wide fits whole only in the other, at once.
	if ours.Outcomes[1].Start != 10 || ours.RequiredBroken != 0 {
		t.Errorf("gpu-scheduler: wide started at %d on %v, %d broken; want 10, one fabric, 0", ours.Outcomes[1].Start, ours.Outcomes[1].Nodes, ours.RequiredBroken)
	}
	if ours.WaitMean != 0 || ours.Makespan != 100 {
		t.Errorf("gpu-scheduler: wait mean %v, makespan %d; want 0, 100", ours.WaitMean, ours.Makespan)
	}
	// Allocation: 8/32 GPUs over [0,10), 24/32 over [10,60), 8/32 over [60,100).
	if want := (25.0*10 + 75*50 + 25*40) / 100; ours.AllocPctMean != want {
		t.Errorf("gpu-scheduler: alloc mean %v, want %v", ours.AllocPctMean, want)
	}
}

// FIFO queue and all or nothing: a gang that does not fit waits, whole, until a job leaves.
func TestRunGangsQueue(t *testing.T) {
	nodes := []*v1.Node{topoNode("a0", 8, "f", "l0"), topoNode("a1", 8, "f", "l0")}
	jobs := []GangJob{
		{Name: "first", Pods: 1, GPUsPerPod: 8, Arrival: 0, Duration: 100},
		{Name: "pair", Pods: 2, GPUsPerPod: 8, TopologyRequired: "ib-leaf", Arrival: 10, Duration: 100},
		{Name: "single", Pods: 1, GPUsPerPod: 4, Arrival: 20, Duration: 10},
	}
	shipped, _ := gangProfiles(t)
	r := runGangs(t, shipped, nodes, jobs)
	starts := []int64{r.Outcomes[0].Start, r.Outcomes[1].Start, r.Outcomes[2].Start}
	// single fits beside first at 20 (the queue holds pair, which cannot use a half node); pair
	// starts when first and single have both left.
	if !reflect.DeepEqual(starts, []int64{0, 100, 20}) {
		t.Errorf("starts %v, want [0 100 20]", starts)
	}
	if r.WaitMax != 90 || r.WaitP95 != 90 {
		t.Errorf("wait max %v, p95 %v; want 90", r.WaitMax, r.WaitP95)
	}
	for _, pt := range r.Timeline {
		if pt.AllocPct != 0 && pt.AllocPct != 50 && pt.AllocPct != 75 && pt.AllocPct != 100 {
			t.Errorf("allocation %v at %d: a gang was partly placed", pt.AllocPct, pt.Time)
		}
	}
}

func TestTopologyLevelsEmptyListSurvivesDefaulting(t *testing.T) {
	cfg := func(levels string) string {
		return `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: gangs
  plugins:
    multiPoint:
      enabled:
      - name: GPUFit
      - name: Interconnect
  pluginConfig:
  - name: Interconnect
    args:
` + levels
	}
	ps, err := decodeProfiles([]byte(cfg("      topologyLevels: []\n")), "empty", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := TopologyLevels(ps[0]); got == nil || len(got) != 0 {
		t.Errorf("topologyLevels: [] decoded to %#v, want an empty list (defaulting fills only an absent one)", got)
	}
	ps, err = decodeProfiles([]byte(cfg("      interconnects: []\n")), "absent", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := TopologyLevels(ps[0]); len(got) != 5 || got[1].Name != "ib-leaf" {
		t.Errorf("absent topologyLevels defaulted to %+v, want the 5 default levels", got)
	}

	shipped, plain := gangProfiles(t)
	if n := len(TopologyLevels(plain)); n != 0 || plain.Name != "coscheduling" {
		t.Errorf("WithoutTopology: %s with %d levels", plain.Name, n)
	}
	if n := len(TopologyLevels(shipped)); n != 5 {
		t.Errorf("WithoutTopology changed the original: %d levels left", n)
	}
	if _, err := WithoutTopology(Profile{Name: "bare"}, "x"); err == nil || !strings.Contains(err.Error(), "no Interconnect args") {
		t.Errorf("profile without Interconnect args: %v", err)
	}
}

func TestReadGangJobsYAML(t *testing.T) {
	jobs, err := ReadGangJobsYAML(strings.NewReader(`jobs:
- {name: llm, count: 3, pods: 4, gpusPerPod: 8, cpu: 32, memory: 256Gi, topologyRequired: ib-fabric, arrival: 100, interval: 60, duration: 3600}
- {name: solo, pods: 1, gpusPerPod: 1, duration: 5}
`), "jobs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 4 || jobs[0].Name != "llm-0" || jobs[2].Name != "llm-2" || jobs[2].Arrival != 220 || jobs[3].Name != "solo" {
		t.Fatalf("jobs %+v", jobs)
	}
	if j := jobs[1]; j.Pods != 4 || j.GPUsPerPod != 8 || j.CPU.String() != "32" || j.Memory.String() != "256Gi" ||
		j.TopologyRequired != "ib-fabric" || j.Duration != 3600 || j.GPUs() != 32 {
		t.Errorf("llm-1: %+v", j)
	}
	for _, tc := range []struct{ name, in, err string }{
		{"not yaml", "jobs: [", "jobs.yaml:"},
		{"other top field", "pods: []\njobs: []", `unknown field "pods"`},
		{"no jobs", "jobs: []", "jobs.yaml: no jobs"},
		{"unknown field", "jobs:\n- {name: a, pods: 1, gpusPerPod: 1, duration: 1, gpus: 2}", `jobs.yaml: jobs[0] "a": unknown field "gpus"`},
		{"no name", "jobs:\n- {pods: 1, gpusPerPod: 1, duration: 1}", `jobs[0] "": name is required`},
		{"no pods", "jobs:\n- {name: a, gpusPerPod: 1, duration: 1}", `jobs[0] "a": pods 0: want 1 to 1000`},
		{"no gpus", "jobs:\n- {name: a, pods: 2, duration: 1}", `jobs[0] "a": gpusPerPod 0: want 1 to 64`},
		{"no duration", "jobs:\n- {name: a, pods: 2, gpusPerPod: 1}", `jobs[0] "a": duration 0`},
		{"negative arrival", "jobs:\n- {name: a, pods: 2, gpusPerPod: 1, duration: 1, arrival: -5}", "arrival -5"},
		{"both levels", "jobs:\n- {name: a, pods: 2, gpusPerPod: 1, duration: 1, topologyRequired: ib-leaf, topologyPreferred: ib-leaf}", "mutually exclusive"},
		{"bad level", "jobs:\n- {name: a, pods: 2, gpusPerPod: 1, duration: 1, topologyPreferred: IB_Leaf}", `topologyPreferred "IB_Leaf"`},
		{"bad cpu", "jobs:\n- {name: a, pods: 2, gpusPerPod: 1, duration: 1, cpu: lots}", `cpu "lots"`},
		{"bad name", "jobs:\n- {name: Big_Job, pods: 2, gpusPerPod: 1, duration: 1}", `job name "Big_Job"`},
		{"negative count", "jobs:\n- {name: a, count: -1, pods: 2, gpusPerPod: 1, duration: 1}", "count -1"},
		{"duplicate", "jobs:\n- {name: a, count: 2, pods: 1, gpusPerPod: 1, duration: 1}\n- {name: a-1, pods: 1, gpusPerPod: 1, duration: 1}",
			`jobs[1] "a-1": job name "a-1" is also made by jobs[0]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadGangJobsYAML(strings.NewReader(tc.in), "jobs.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want one containing %q", err, tc.err)
			}
		})
	}
	shipped, _ := gangProfiles(t)
	err = CheckGangJobLevels([]GangJob{{Name: "x", TopologyRequired: "rack"}, {Name: "y", TopologyPreferred: "spine"}}, TopologyLevels(shipped))
	if err == nil || !strings.Contains(err.Error(), `job y: unknown topology level "spine" (known: nvlink-domain, ib-leaf, ib-fabric, rack, zone)`) {
		t.Errorf("unknown level: %v", err)
	}
}

func TestGenerateGangJobs(t *testing.T) {
	a := GenerateGangJobs(500, 7, 224, 0.9, 3600)
	if b := GenerateGangJobs(500, 7, 224, 0.9, 3600); !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed made different jobs")
	}
	if c := GenerateGangJobs(500, 8, 224, 0.9, 3600); reflect.DeepEqual(a, c) {
		t.Fatal("seeds 7 and 8 made the same jobs")
	}
	sizes := map[string]int{}
	var gpuSeconds float64
	for i, j := range a {
		if j.Pods < 1 || j.Pods > 8 || (j.GPUsPerPod != 1 && j.GPUsPerPod != 2 && j.GPUsPerPod != 4 && j.GPUsPerPod != 8) || j.Duration < 60 {
			t.Fatalf("job %d: %+v", i, j)
		}
		if i > 0 && j.Arrival < a[i-1].Arrival {
			t.Fatalf("arrivals out of order at %d", i)
		}
		if (j.Pods == 1) != (j.TopologyRequired == "" && j.TopologyPreferred == "") {
			t.Errorf("job %d: %d pods, required %q, preferred %q", i, j.Pods, j.TopologyRequired, j.TopologyPreferred)
		}
		sizes[fmt.Sprintf("%dx%d", j.Pods, j.GPUsPerPod)]++
		gpuSeconds += float64(j.GPUs() * j.Duration)
	}
	if len(sizes) < 25 {
		t.Errorf("only %d job shapes of 32", len(sizes))
	}
	// Offered load: GPU-seconds over the arrival span and the cluster, about 0.9.
	if load := gpuSeconds / float64(a[len(a)-1].Arrival) / 224; load < 0.6 || load > 1.3 {
		t.Errorf("offered load %.2f, want about 0.9", load)
	}
}
