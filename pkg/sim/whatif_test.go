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
	cl, err := trace.ReadClusterYAML(strings.NewReader(`nodes:
- {name: gpu, count: 2, cpu: "64", memory: 512Gi, gpus: 4}
`), "cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pods, err := trace.ReadWorkloadYAML(strings.NewReader(`pods:
- {name: a, cpu: "4", memory: 16Gi, gpus: 2, node: gpu-0, createdAt: 0}
- {name: b, cpu: "4", memory: 16Gi, gpus: 2, node: gpu-1, createdAt: 1}
- {name: c, cpu: "4", memory: 16Gi, gpus: 1, node: gpu-1, createdAt: 2}
- {name: huge, cpu: "4", memory: 16Gi, gpus: 8, node: gpu-1, createdAt: 3}
- {name: d, cpu: "4", memory: 16Gi, gpus: 2, createdAt: 4}
- {name: e, cpu: "4", memory: 16Gi, gpus: 4, createdAt: 5}
`), "workload.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := WhatIf(context.Background(), shippedProfile(t), cl, pods, 1)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kept != 3 || res.NoLongerFit != 1 || res.LiveAllocPct != 62.5 {
		t.Errorf("kept %d, no longer fit %d, live allocation %.2f%%; want 3, 1 (huge asks more than its node has), 62.5%%", res.Kept, res.NoLongerFit, res.LiveAllocPct)
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
