package sim

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/plugintest"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim/trace"
)

// draCluster is one node whose 4 GPUs NVIDIA's DRA driver publishes, and one device-plugin node
// with 2, both A100.
const draCluster = `nodes:
- name: dra
  cpu: "64"
  memory: 512Gi
  gpus: 4
  model: NVIDIA-A100-SXM4-80GB
  dra: true
- name: dp
  cpu: "64"
  memory: 512Gi
  gpus: 2
  model: NVIDIA-A100-SXM4-80GB
`

// TestDRANodes places whole-GPU Pods on a DRA node through DynamicResources and our plugins, in both
// the shipped profile and upstream's default: the node's devices hold as many GPUs as it publishes,
// a Pod's devices stay allocated while it runs and come back when it leaves.
func TestDRANodes(t *testing.T) {
	for _, name := range []string{"gpu-scheduler", "default"} {
		t.Run(name, func(t *testing.T) {
			p := shippedProfile(t)
			if name != p.Name {
				var err error
				if p, err = BaselineProfile(name); err != nil {
					t.Fatal(err)
				}
			}
			cl, err := trace.ReadClusterYAML(strings.NewReader(draCluster), "cluster.yaml")
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(context.Background(), p, cl, 1)
			if err != nil {
				t.Fatal(err)
			}
			free := func() []int64 {
				t.Helper()
				f, err := s.FreeWhole(nil)
				if err != nil {
					t.Fatal(err)
				}
				return f
			}
			// Two 2-GPU Pods take the DRA node's 4 devices and the device-plugin node's 2 GPUs; the
			// next finds no free GPU, whichever way they are published.
			placed := map[string]int{}
			var onDRA string
			for _, pod := range []string{"a", "b", "c"} {
				pl, err := s.Schedule(plugintest.GPUPod(pod, "1", "1Gi", 2).Obj())
				if err != nil {
					t.Fatal(err)
				}
				if pl.Node == "" {
					t.Fatalf("pod %s not placed: %v", pod, SortedReasons(pl.Reasons))
				}
				placed[pl.Node]++
				if pl.Node == "dra" {
					onDRA = pod
				}
			}
			if placed["dra"] != 2 || placed["dp"] != 1 {
				t.Fatalf("placed %v, want 2 Pods on dra and 1 on dp", placed)
			}
			if got := free(); got[0] != 0 || got[1] != 0 {
				t.Fatalf("free GPUs %v, want none", got)
			}
			pl, err := s.Schedule(plugintest.GPUPod("d", "1", "1Gi", 1).Obj())
			if err != nil {
				t.Fatal(err)
			}
			if pl.Node != "" {
				t.Fatalf("pod d placed on %s: the DRA node's devices were allocated twice", pl.Node)
			}
			// A Pod leaving gives its devices back.
			if err := s.Remove(plugintest.GPUPod(onDRA, "1", "1Gi", 2).Obj(), "dra"); err != nil {
				t.Fatal(err)
			}
			if got := free(); got[0] != 2 {
				t.Fatalf("free GPUs %v after %s left dra, want 2 there", got, onDRA)
			}
			if pl, err = s.Schedule(plugintest.GPUPod("e", "1", "1Gi", 2).Obj()); err != nil || pl.Node != "dra" {
				t.Fatalf("pod e: %v %v (%v), want dra, whose devices came back", pl.Node, err, SortedReasons(pl.Reasons))
			}
		})
	}
}

// TestDRATwinCluster replays one whole-GPU workload on a cluster and on its twin whose GPU nodes
// publish the same GPUs through DRA: the shipped profile counts and scores both kinds alike, so the
// placements, and with them the allocation and fragmentation over time, are the same.
func TestDRATwinCluster(t *testing.T) {
	const shapes = `
- {name: h100, count: 3, cpu: "96", memory: 1Ti, gpus: 8, model: NVIDIA-H100-80GB-HBM3%[1]s}
- {name: a100, count: 4, cpu: "48", memory: 384Gi, gpus: 4, model: NVIDIA-A100-SXM4-80GB%[1]s}
- {name: cpu, count: 2, cpu: "64", memory: 256Gi}
`
	workload, err := trace.ReadWorkloadYAML(strings.NewReader(`pods:
- {name: train, count: 3, cpu: "40", memory: 400Gi, gpus: 8}
- {name: tune, count: 6, cpu: "12", memory: 96Gi, gpus: 2, models: [NVIDIA-A100-SXM4-80GB]}
- {name: infer, count: 20, cpu: "6", memory: 40Gi, gpus: 1}
- {name: etl, count: 6, cpu: "16", memory: 64Gi}
- {name: quad, count: 4, cpu: "20", memory: 160Gi, gpus: 4}
`), "workload.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pods := trace.Inflate(workload, 40, 1.3, 7)
	var runs [2]*Result
	for i, dra := range []string{"", ", dra: true"} {
		cl, err := trace.ReadClusterYAML(strings.NewReader("nodes:"+fmt.Sprintf(shapes, dra)), "cluster.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if runs[i], err = Inflate(context.Background(), shippedProfile(t), cl, pods, 7, nil); err != nil {
			t.Fatal(err)
		}
	}
	dp, dra := runs[0], runs[1]
	if dp.GPUTotal != 40 || dra.GPUTotal != 40 || dp.PodsScheduled == 0 {
		t.Fatalf("GPUs %d and %d, %d Pods placed; want 40 GPUs in both", dp.GPUTotal, dra.GPUTotal, dp.PodsScheduled)
	}
	if dp.PodsFailed == 0 || dp.FragPctAt100 == 0 {
		t.Fatalf("%d Pods failed, fragmentation %.2f%%: the workload should fill the cluster", dp.PodsFailed, dp.FragPctAt100)
	}
	if !reflect.DeepEqual(dp.Timeline, dra.Timeline) || dp.PodsScheduled != dra.PodsScheduled {
		t.Errorf("device plugin: %d placed, at 100%% %.2f%% allocated, %.2f%% fragmented; DRA: %d placed, %.2f%%, %.2f%%",
			dp.PodsScheduled, dp.AllocPctAt100, dp.FragPctAt100, dra.PodsScheduled, dra.AllocPctAt100, dra.FragPctAt100)
	}
}

// TestDRAGangRollback: a gang that does not fit whole gives back the devices its placed members were
// allocated, and the next gang gets them.
func TestDRAGangRollback(t *testing.T) {
	cl, err := trace.ReadClusterYAML(strings.NewReader(`nodes:
- {name: dra, count: 2, cpu: "64", memory: 512Gi, gpus: 4, model: NVIDIA-A100-SXM4-80GB, dra: true}
`), "cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(context.Background(), shippedProfile(t), cl, 1)
	if err != nil {
		t.Fatal(err)
	}
	placements, err := s.ScheduleGang("default", "big", 3, gang("big", 3, 4))
	if err != nil {
		t.Fatal(err)
	}
	if len(placements) != 3 || placements[0].Node == "" || placements[2].Node != "" {
		t.Fatalf("gang of 3 x 4 GPUs on 2 x 4 devices: %+v; want two members placed and the third not", placements)
	}
	if free, err := s.FreeWhole(nil); err != nil || free[0] != 4 || free[1] != 4 {
		t.Fatalf("free devices %v (%v) after the gang was undone, want 4 on each node", free, err)
	}
	placements, err = s.ScheduleGang("default", "fits", 2, gang("fits", 2, 4))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range placements {
		if p.Node == "" {
			t.Fatalf("gang of 2 x 4 GPUs not placed: %v", SortedReasons(p.Reasons))
		}
	}
}
