package sim

import (
	"context"
	"strings"
	"testing"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim/trace"
)

// TestWhatIf keeps the bound Pods where a snapshot found them and places today's pending Pods on
// what is left; then places the bound Pods again from an empty cluster.
func TestWhatIf(t *testing.T) {
	res := whatIfOn(t, `nodes:
- {name: gpu, count: 2, cpu: "64", memory: 512Gi, gpus: 4}
`, `pods:
- {name: a, cpu: "4", memory: 16Gi, gpus: 2, node: gpu-0, createdAt: 0}
- {name: b, cpu: "4", memory: 16Gi, gpus: 2, node: gpu-1, createdAt: 1}
- {name: c, cpu: "4", memory: 16Gi, gpus: 1, node: gpu-1, createdAt: 2}
- {name: huge, cpu: "4", memory: 16Gi, gpus: 8, node: gpu-1, createdAt: 3}
- {name: d, cpu: "4", memory: 16Gi, gpus: 2, createdAt: 4}
- {name: e, cpu: "4", memory: 16Gi, gpus: 4, createdAt: 5}
`)
	if res.Kept != 3 || res.WithoutRoom != 1 || res.LiveAllocPct != 62.5 {
		t.Errorf("kept %d, without room %d, live allocation %.2f%%; want 3, 1 (huge asks more than its node has), 62.5%%", res.Kept, res.WithoutRoom, res.LiveAllocPct)
	}
	if res.Pending != 2 || res.PendingGPUPlaced != 1 || res.Placements["d"] != "gpu-0" {
		t.Errorf("pending %d, placed %d, placements %v; want d on gpu-0 (the only node with 2 free) and e nowhere", res.Pending, res.PendingGPUPlaced, res.Placements)
	}
	// From empty, the shipped profile packs a and b on one node and c beside them: the same 5 GPUs.
	if res.Replaced != 3 || res.ReplacedFail != 1 || res.AllocPct != 62.5 {
		t.Errorf("from empty: %d placed, %d failed, %.2f%% allocated; want 3, 1, 62.5%%", res.Replaced, res.ReplacedFail, res.AllocPct)
	}
	if res.FragPct > res.LiveFragPct {
		t.Errorf("from empty the packing profile fragments %.2f%%, more than the cluster as found (%.2f%%)", res.FragPct, res.LiveFragPct)
	}
}

// TestKeepGangMember: a bound gang member stays on its node though the gang plan Interconnect makes
// without its PodGroup would put it elsewhere (scheduling it pinned by nodeName finds no node).
func TestKeepGangMember(t *testing.T) {
	cl, err := trace.ReadClusterYAML(strings.NewReader(`nodes:
- {name: gpu-0, cpu: "64", memory: 512Gi, gpus: 4, labels: {network.gpu-scheduler.io/ib-fabric: f1}}
- {name: gpu-1, cpu: "64", memory: 512Gi, gpus: 4, labels: {network.gpu-scheduler.io/ib-fabric: f2}}
`), "cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	member := func(name string) trace.Pod {
		pods, err := trace.ReadWorkloadYAML(strings.NewReader(`pods:
- {name: `+name+`, cpu: "4", gpus: 4, node: gpu-1, labels: {scheduling.x-k8s.io/pod-group: g}, annotations: {gpu-scheduler.io/topology-required: ib-fabric}}
`), "workload.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return pods[0]
	}
	s, err := New(context.Background(), shippedProfile(t), cl, 1)
	if err != nil {
		t.Fatal(err)
	}
	pinned := member("w0").Pod.DeepCopy()
	pinned.Spec.NodeName = "gpu-1"
	if p, err := s.Schedule(pinned); err != nil || p.Node != "" {
		t.Fatalf("scheduling the member pinned to gpu-1: %q %v; the plan was expected to name gpu-0", p.Node, err)
	}
	p, err := s.Keep(member("w1").Pod, "gpu-1")
	if err != nil || p.Node != "gpu-1" {
		t.Fatalf("Keep: %q %v %v, want gpu-1", p.Node, err, SortedReasons(p.Reasons))
	}
	if p, _ := s.Keep(member("w2").Pod, "gpu-1"); p.Node != "" {
		t.Errorf("a second 4-GPU member kept on the full gpu-1")
	}
}

// TestWhatIfStranded: a bound CPU-only Pod that leaves a GPU node too little CPU for any GPU shape
// strands that node's free GPUs today. The shipped profile's AntiStranding would not have put it
// there, but it is there: kept, and counted as kept against the profile's policy, so today's pending
// 4-GPU Pod has one node, not two. Placed again from empty, the shipped profile puts it on the CPU
// node, and nothing is stranded.
func TestWhatIfStranded(t *testing.T) {
	res := whatIfOn(t, `nodes:
- {name: gpu, count: 3, cpu: "64", memory: 512Gi, gpus: 4}
- {name: cpu, cpu: "64", memory: 512Gi}
`, `pods:
- {name: batch, cpu: "62", memory: 16Gi, node: gpu-0, createdAt: 0}
- {name: train, cpu: "4", memory: 16Gi, gpus: 2, node: gpu-1, createdAt: 1}
- {name: elsewhere, cpu: "4", memory: 16Gi, gpus: 2, node: gpu-1, createdAt: 1, interconnect: quantumlink}
- {name: big, cpu: "4", memory: 16Gi, gpus: 4, createdAt: 2}
- {name: big2, cpu: "4", memory: 16Gi, gpus: 4, createdAt: 3}
`)
	if res.Kept != 3 || res.KeptAgainstPolicy != 2 || res.WithoutRoom != 0 {
		t.Errorf("today: %d kept, %d against policy, %d without room; want 3, 2 (batch for AntiStranding, elsewhere for an interconnect the profile does not know), 0",
			res.Kept, res.KeptAgainstPolicy, res.WithoutRoom)
	}
	if res.LiveStrandedPct != 100.0/3 {
		t.Errorf("today: %.2f%% stranded, want 33.33%% (gpu-0's 4 GPUs have 2 CPUs left, a GPU Pod asks 4)", res.LiveStrandedPct)
	}
	if res.PendingGPUPlaced != 1 || res.Placements["big"] != "gpu-2" {
		t.Errorf("today: %d pending placed, %v; want big on gpu-2 and big2 nowhere", res.PendingGPUPlaced, res.Placements)
	}
	if res.Replaced != 2 || res.StrandedPct != 0 {
		t.Errorf("from empty: %d placed, %.2f%% stranded; want 2 (batch on the CPU node, train; elsewhere nowhere), 0%%", res.Replaced, res.StrandedPct)
	}
}

// whatIfOn runs WhatIf with the shipped profile and seed 1 on a cluster and a snapshot workload.
func whatIfOn(t *testing.T, clusterYAML, workloadYAML string) *WhatIfResult {
	t.Helper()
	cl, err := trace.ReadClusterYAML(strings.NewReader(clusterYAML), "cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pods, err := trace.ReadWorkloadYAML(strings.NewReader(workloadYAML), "workload.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := WhatIf(context.Background(), shippedProfile(t), cl, pods, 1)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestWhatIfGangs: a gang's members are placed together, sized by their PodGroup. Today, the pending
// gang of two 4-GPU Pods that must share an InfiniBand fabric goes to the fabric with room for both
// (member by member, the first would take the fabric with room for one, and the second would find
// none); a gang short of its minMember waits though there is room, and one with members beyond its
// minMember places what fits. From empty, the bound gang finds the fabric the lone Pod left whole.
func TestWhatIfGangs(t *testing.T) {
	res := whatIfOn(t, `nodes:
- {name: f1, count: 2, cpu: "64", memory: 512Gi, gpus: 4, labels: {network.gpu-scheduler.io/ib-fabric: f1}}
- {name: f2, count: 2, cpu: "64", memory: 512Gi, gpus: 4, labels: {network.gpu-scheduler.io/ib-fabric: f2}}
- {name: f3, count: 2, cpu: "64", memory: 512Gi, gpus: 4, labels: {network.gpu-scheduler.io/ib-fabric: f3}}
`, `pods:
- {name: solo, cpu: "4", gpus: 4, node: f1-0, createdAt: 0}
- {name: b-0, cpu: "4", gpus: 4, node: f3-0, createdAt: 1, labels: {scheduling.x-k8s.io/pod-group: b}, annotations: {gpu-scheduler.io/topology-required: ib-fabric}}
- {name: b-1, cpu: "4", gpus: 4, node: f3-1, createdAt: 1, labels: {scheduling.x-k8s.io/pod-group: b}, annotations: {gpu-scheduler.io/topology-required: ib-fabric}}
- {name: g, count: 2, cpu: "4", gpus: 4, createdAt: 2, labels: {scheduling.x-k8s.io/pod-group: g}, annotations: {gpu-scheduler.io/topology-required: ib-fabric}}
- {name: short, count: 2, cpu: "4", gpus: 1, createdAt: 3, labels: {scheduling.x-k8s.io/pod-group: short}}
- {name: e, count: 2, cpu: "4", gpus: 4, createdAt: 4, labels: {scheduling.x-k8s.io/pod-group: e}}
podGroups:
- {name: e, minMember: 1}
- {name: b, minMember: 2}
- {name: g, minMember: 2}
- {name: short, minMember: 3}
`)
	if res.Kept != 3 || res.WithoutRoom != 0 {
		t.Errorf("today: %d kept, %d without room; want all 3 kept", res.Kept, res.WithoutRoom)
	}
	if res.Placements["g-0"] != "f2-0" && res.Placements["g-0"] != "f2-1" || res.Placements["g-1"] == "" || res.Placements["g-1"][:2] != "f2" {
		t.Errorf("today's placements %v; want g-0 and g-1 on fabric f2, the only one with room for both", res.Placements)
	}
	if _, placed := res.Placements["short-0"]; placed {
		t.Errorf("today's placements %v; want the short gang (2 of minMember 3) waiting", res.Placements)
	}
	// The elastic gang needs one member; the second, beyond minMember, goes on its own and finds no
	// room (all or nothing over both would place neither).
	if res.Placements["e-0"] != "f1-1" || res.PendingGPUPlaced != 3 {
		t.Errorf("today: %d pending GPU Pods placed, %v; want g-0, g-1 and e-0 (on f1-1)", res.PendingGPUPlaced, res.Placements)
	}
	if res.Replaced != 3 || res.ReplacedFail != 0 {
		t.Errorf("from empty: %d placed, %d failed; want solo and both b members placed", res.Replaced, res.ReplacedFail)
	}
}
