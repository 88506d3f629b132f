package gpubinpacking

import (
	"context"
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/plugintest"
)

// gpuNode is a node with total GPUs, used of them requested by one Pod already on it.
func gpuNode(name string, total, used int) fwk.NodeInfo {
	var pods []*v1.Pod
	if used > 0 {
		pods = append(pods, plugintest.GPUPod(name+"-used", "1", "1Gi", used).Node(name).Obj())
	}
	return plugintest.NodeInfo(plugintest.GPUNode(name, "96", "768Gi", total), pods...)
}

func TestScore(t *testing.T) {
	tests := []struct {
		name  string
		pod   *v1.Pod
		nodes []fwk.NodeInfo
		want  []int64
	}{
		// Left over: 6, 0, 2 GPUs; the tightest fit wins, the loosest loses, linearly between.
		{name: "best fit for a 2-GPU pod", pod: plugintest.GPUPod("p", "1", "1Gi", 2).Obj(),
			nodes: []fwk.NodeInfo{gpuNode("free8", 8, 0), gpuNode("free2", 8, 6), gpuNode("free4", 8, 4)},
			want:  []int64{0, 100, 66}},
		{name: "idle 8-GPU node below a half-used one", pod: plugintest.GPUPod("p", "1", "1Gi", 1).Obj(),
			nodes: []fwk.NodeInfo{gpuNode("idle", 8, 0), gpuNode("half", 8, 4)},
			want:  []int64{0, 100}},
		{name: "smaller node fits tighter", pod: plugintest.GPUPod("p", "1", "1Gi", 2).Obj(),
			nodes: []fwk.NodeInfo{gpuNode("n8", 8, 0), gpuNode("n4", 4, 0), gpuNode("n2", 2, 0)},
			want:  []int64{0, 66, 100}},
		// Left over: 0, 8, 4; a CPU-only Pod keeps off GPU nodes, most of all off the idle one.
		{name: "CPU-only pod prefers the GPU-less node", pod: plugintest.GPUPod("p", "4", "8Gi", 0).Obj(),
			nodes: []fwk.NodeInfo{gpuNode("cpu", 0, 0), gpuNode("idle", 8, 0), gpuNode("half", 8, 4)},
			want:  []int64{100, 0, 50}},
		{name: "CPU-only pod on a fully used GPU node is as good as GPU-less", pod: plugintest.GPUPod("p", "4", "8Gi", 0).Obj(),
			nodes: []fwk.NodeInfo{gpuNode("cpu", 0, 0), gpuNode("full", 8, 8), gpuNode("idle", 4, 0)},
			want:  []int64{100, 100, 0}},
		{name: "all equal", pod: plugintest.GPUPod("p", "1", "1Gi", 1).Obj(),
			nodes: []fwk.NodeInfo{gpuNode("a", 8, 2), gpuNode("b", 8, 2), gpuNode("c", 8, 2)},
			want:  []int64{100, 100, 100}},
		{name: "single node", pod: plugintest.GPUPod("p", "1", "1Gi", 1).Obj(),
			nodes: []fwk.NodeInfo{gpuNode("a", 8, 0)},
			want:  []int64{100}},
		// A node the Pod does not fit (Filter removes it) counts as zero left over, not negative.
		{name: "too few free GPUs count as none left", pod: plugintest.GPUPod("p", "1", "1Gi", 4).Obj(),
			nodes: []fwk.NodeInfo{gpuNode("short", 8, 6), gpuNode("exact", 8, 4), gpuNode("loose", 8, 0)},
			want:  []int64{100, 100, 0}},
	}
	pl, err := New(context.Background(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := plugintest.Score(t, pl, tt.pod, tt.nodes)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("scores = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRawScore checks Score before normalisation: the free GPU thousandths left after placing the Pod.
func TestRawScore(t *testing.T) {
	pl := &GPUBinPacking{}
	ctx := context.Background()
	state := framework.NewCycleState()
	if status := pl.PreScore(ctx, state, plugintest.GPUPod("p", "1", "1Gi", 3).Obj(), nil); !status.IsSuccess() {
		t.Fatal(status)
	}
	for _, tc := range []struct {
		node fwk.NodeInfo
		want int64
	}{
		{gpuNode("idle", 8, 0), 5000},
		{gpuNode("used", 8, 3), 2000},
		{gpuNode("exact", 4, 1), 0},
		{gpuNode("short", 4, 2), 0},
		{gpuNode("cpu", 0, 0), 0},
	} {
		got, status := pl.Score(ctx, state, nil, tc.node)
		if !status.IsSuccess() || got != tc.want {
			t.Errorf("%s: Score = %d, %v; want %d", tc.node.Node().Name, got, status, tc.want)
		}
	}
}

func TestScoreWithoutPreScore(t *testing.T) {
	_, status := (&GPUBinPacking{}).Score(context.Background(), framework.NewCycleState(), nil, gpuNode("n", 8, 0))
	if status.Code() != fwk.Error {
		t.Errorf("status = %v, want Error", status)
	}
}

// A share goes to the shared GPU it fits most tightly, so the node whose shared GPU it fills scores
// best; a node where it must open a fresh GPU leaves more free.
func TestScoreShares(t *testing.T) {
	shared := func(name string, used string) *v1.Pod {
		return plugintest.GPUPod(name, "1", "1Gi", 0).Node("a").Annotation(gpu.FractionAnnotation, used).Annotation(gpu.GPUIndexAnnotation, "0").Obj()
	}
	nodeA := plugintest.NodeInfo(plugintest.GPUNode("a", "32", "128Gi", 2), shared("s1", "0.6"))
	nodeB := plugintest.NodeInfo(plugintest.GPUNode("b", "32", "128Gi", 2))
	pod := plugintest.GPUPod("p", "1", "1Gi", 0).Annotation(gpu.FractionAnnotation, "0.4").Obj()
	pl := &GPUBinPacking{}
	got := plugintest.Score(t, pl, pod, []fwk.NodeInfo{nodeA, nodeB})
	if !reflect.DeepEqual(got, []int64{100, 0}) {
		t.Errorf("scores = %v, want [100 0]", got)
	}
}
