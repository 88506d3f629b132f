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
