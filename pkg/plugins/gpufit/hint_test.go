package gpufit

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/names"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/plugintest"
)

func TestNearestFitHint(t *testing.T) {
	h100 := func(name string) *v1.Node {
		return plugintest.GPUNode(name, "96", "768Gi", 8, gpu.DefaultModelLabel, "NVIDIA-H100-80GB-HBM3", gpu.InterconnectLabelPrefix+"infiniband", "true")
	}
	a100 := func(name string) *v1.Node {
		return plugintest.GPUNode(name, "64", "512Gi", 4, gpu.DefaultModelLabel, "NVIDIA-A100-SXM4-80GB")
	}
	cpuNode := plugintest.GPUNode("cpu-0", "32", "128Gi", 0)
	on := func(node string, gpus int, cpu string) *v1.Pod {
		return plugintest.GPUPod(node+"-user", cpu, "8Gi", gpus).Node(node).Obj()
	}
	share := func(name, node, fraction, index string) *v1.Pod {
		return plugintest.GPUPod(name, "1", "1Gi", 0).Node(node).Annotation(gpu.FractionAnnotation, fraction).Annotation(gpu.GPUIndexAnnotation, index).Obj()
	}
	rejected := func(plugin, reason string) *fwk.Status {
		return fwk.NewStatus(fwk.Unschedulable, reason).WithPlugin(plugin)
	}
	never := func(plugin, reason string) *fwk.Status {
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, reason).WithPlugin(plugin)
	}
	eight := plugintest.GPUPod("p", "8", "32Gi", 8).Obj()
	tests := []struct {
		name     string
		pod      *v1.Pod
		nodes    []*v1.Node
		existing []*v1.Pod
		statuses map[string]*fwk.Status
		want     string
	}{{
		name:     "the largest free block",
		pod:      eight,
		nodes:    []*v1.Node{h100("h100-0"), a100("a100-0"), cpuNode},
		existing: []*v1.Pod{on("h100-0", 2, "8"), on("a100-0", 1, "8")},
		statuses: map[string]*fwk.Status{
			"h100-0": rejected(Name, ReasonInsufficientGPUs), "a100-0": never(Name, ReasonTooFewGPUs),
			"cpu-0": never(Name, ReasonNoGPUs),
		},
		want: "largest free: 6 GPUs on h100-0 (NVIDIA-H100-80GB-HBM3, infiniband); the pod asks 8",
	}, {
		name:     "a node the pod's own constraints rule out does not count",
		pod:      eight,
		nodes:    []*v1.Node{h100("h100-0"), h100("h100-1")},
		existing: []*v1.Pod{on("h100-0", 5, "8")},
		statuses: map[string]*fwk.Status{
			"h100-0": rejected(Name, ReasonInsufficientGPUs), "h100-1": never(names.NodeAffinity, "node(s) didn't match Pod's node affinity/selector"),
		},
		want: "largest free: 3 GPUs on h100-0 (NVIDIA-H100-80GB-HBM3, infiniband); the pod asks 8",
	}, {
		name:     "the GPUs are free but the CPU is not",
		pod:      eight,
		nodes:    []*v1.Node{h100("h100-0"), h100("h100-1")},
		existing: []*v1.Pod{on("h100-0", 0, "90"), on("h100-1", 0, "90")},
		statuses: map[string]*fwk.Status{
			"h100-0": rejected(names.NodeResourcesFit, "Insufficient cpu"), "h100-1": rejected(names.NodeResourcesFit, "Insufficient cpu"),
		},
		want: "2 node(s) have 8 GPUs free but not 8 free CPU",
	}, {
		name:     "no node with the GPUs has that much CPU",
		pod:      plugintest.GPUPod("p", "128", "32Gi", 8).Obj(),
		nodes:    []*v1.Node{h100("h100-0")},
		statuses: map[string]*fwk.Status{"h100-0": never(names.NodeResourcesFit, "Insufficient cpu")},
		want:     "1 node(s) have 8 GPUs free but not 128 CPU in all: waiting will not help",
	}, {
		name:     "no node that big",
		pod:      plugintest.GPUPod("p", "8", "32Gi", 16).Obj(),
		nodes:    []*v1.Node{h100("h100-0"), a100("a100-0")},
		statuses: map[string]*fwk.Status{"h100-0": never(Name, ReasonTooFewGPUs), "a100-0": never(Name, ReasonTooFewGPUs)},
		want:     "no node has 16 GPUs in total (the most is 8): waiting will not help",
	}, {
		name:     "no GPUs at all",
		pod:      eight,
		nodes:    []*v1.Node{cpuNode},
		statuses: map[string]*fwk.Status{"cpu-0": never(Name, ReasonNoGPUs)},
		want:     "no node has GPUs: waiting will not help",
	}, {
		name:     "every node ruled out by the pod's own constraints",
		pod:      eight,
		nodes:    []*v1.Node{h100("h100-0"), cpuNode},
		statuses: map[string]*fwk.Status{"h100-0": never(names.TaintToleration, "node(s) had untolerated taint(s)"), "cpu-0": never(Name, ReasonNoGPUs)},
		want:     "no node that the pod's own constraints allow (node name, selector and affinity, taints, ports, GPU model, interconnect) has 8 GPUs in total: waiting will not help",
	}, {
		name:     "every GPU held",
		pod:      eight,
		nodes:    []*v1.Node{h100("h100-0"), h100("h100-1")},
		existing: []*v1.Pod{on("h100-0", 8, "8"), plugintest.GPUPod("h100-1-user", "8", "8Gi", 8).Node("h100-1").Obj()},
		statuses: map[string]*fwk.Status{"h100-0": rejected(Name, ReasonInsufficientGPUs), "h100-1": rejected(Name, ReasonInsufficientGPUs)},
		want:     "none of the 2 node(s) the pod could use has a GPU free; the pod asks 8 GPUs",
	}, {
		name:     "the largest free share",
		pod:      plugintest.GPUPod("p", "1", "1Gi", 0).Annotation(gpu.FractionAnnotation, "0.5").Obj(),
		nodes:    []*v1.Node{plugintest.GPUNode("t4-0", "32", "128Gi", 2)},
		existing: []*v1.Pod{share("s0", "t4-0", "0.7", "0"), share("s1", "t4-0", "0.8", "1")},
		statuses: map[string]*fwk.Status{"t4-0": rejected(Name, ReasonInsufficientGPUShare)},
		want:     "largest free share: 0.3 of a GPU on t4-0; the pod asks 0.5 of a GPU",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fh, err := plugintest.Handle(cache.NewSnapshot(tt.existing, tt.nodes))
			if err != nil {
				t.Fatal(err)
			}
			pl := &GPUFit{handle: fh}
			state := framework.NewCycleState()
			if _, st := pl.PreFilter(context.Background(), state, tt.pod, nil); !st.IsSuccess() {
				t.Fatal(st)
			}
			statuses := framework.NewDefaultNodeToStatus()
			for name, st := range tt.statuses {
				statuses.Set(name, st)
			}
			_, got := pl.PostFilter(context.Background(), state, tt.pod, statuses)
			if got.Code() != fwk.Unschedulable || got.Message() != tt.want {
				t.Errorf("PostFilter = %v %q, want Unschedulable %q", got.Code(), got.Message(), tt.want)
			}
		})
	}

	// A Pod that a PreFilter rejected (no node reached Filter) gets no hint: that reason says it all.
	{
		fh, err := plugintest.Handle(cache.NewSnapshot(nil, []*v1.Node{h100("h100-0")}))
		if err != nil {
			t.Fatal(err)
		}
		pl := &GPUFit{handle: fh}
		state := framework.NewCycleState()
		if _, st := pl.PreFilter(context.Background(), state, eight, nil); !st.IsSuccess() {
			t.Fatal(st)
		}
		statuses := framework.NewDefaultNodeToStatus()
		statuses.SetAbsentNodesStatus(fwk.NewStatus(fwk.UnschedulableAndUnresolvable, "no ib-fabric domain has room").WithPlugin("Interconnect"))
		if _, got := pl.PostFilter(context.Background(), state, eight, statuses); got.Message() != "" {
			t.Errorf("PostFilter after a PreFilter rejection says %q", got.Message())
		}
	}

	// A Pod that asks for no GPU gets no hint.
	fh, err := plugintest.Handle(cache.NewSnapshot(nil, []*v1.Node{cpuNode}))
	if err != nil {
		t.Fatal(err)
	}
	pl := &GPUFit{handle: fh}
	cpuPod := plugintest.GPUPod("c", "64", "1Gi", 0).Obj()
	state := framework.NewCycleState()
	if _, st := pl.PreFilter(context.Background(), state, cpuPod, nil); !st.IsSkip() {
		t.Fatal(st)
	}
	if _, got := pl.PostFilter(context.Background(), state, cpuPod, framework.NewDefaultNodeToStatus()); got.Message() != "" {
		t.Errorf("PostFilter for a CPU-only pod says %q", got.Message())
	}
}

// BenchmarkNearestFit: the hint for a 16-GPU Pod that fits nowhere at 5,000 nodes, beside what the
// failed cycle costs GPUFit's Filter alone (every other Filter comes on top of that).
func BenchmarkNearestFit(b *testing.B) {
	infos := plugintest.Cluster(5000)
	var nodes []*v1.Node
	var pods []*v1.Pod
	statuses := framework.NewDefaultNodeToStatus()
	for _, ni := range infos {
		nodes = append(nodes, ni.Node())
		for _, pi := range ni.GetPods() {
			pods = append(pods, pi.GetPod())
		}
	}
	fh, err := plugintest.Handle(cache.NewSnapshot(pods, nodes))
	if err != nil {
		b.Fatal(err)
	}
	snapshotInfos, err := fh.SnapshotSharedLister().NodeInfos().List()
	if err != nil {
		b.Fatal(err)
	}
	pl := &GPUFit{handle: fh, states: gpu.NodeStatesFor(context.Background(), fh)}
	pod := plugintest.GPUPod("p", "8", "32Gi", 16).Obj()
	state := framework.NewCycleState()
	if _, st := pl.PreFilter(context.Background(), state, pod, snapshotInfos); !st.IsSuccess() {
		b.Fatal(st)
	}
	for _, ni := range snapshotInfos {
		statuses.Set(ni.Node().Name, pl.Filter(context.Background(), state, pod, ni).WithPlugin(Name))
	}
	b.Run("GPUFit Filter on every node", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, ni := range snapshotInfos {
				_ = pl.Filter(context.Background(), state, pod, ni)
			}
		}
	})
	b.Run("hint", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = pl.PostFilter(context.Background(), state, pod, statuses)
		}
	})
}
