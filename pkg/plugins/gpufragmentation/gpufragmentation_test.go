package gpufragmentation

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config"
	configv1 "github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config/v1"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/plugintest"
)

func newPlugin(t *testing.T, args *configv1.GPUFragmentationArgs) *GPUFragmentation {
	t.Helper()
	pl, err := New(context.Background(), plugintest.Args(t, args, &config.GPUFragmentationArgs{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	return pl.(*GPUFragmentation)
}

// learn shows the plugin n Pods of a shape, as PreFilter sees arrivals.
func learn(t *testing.T, pl *GPUFragmentation, n int, pod func(i int) *v1.Pod) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, s := pl.PreFilter(context.Background(), framework.NewCycleState(), pod(i), nil); !s.IsSkip() {
			t.Fatalf("PreFilter = %v, want Skip (it filters nothing)", s)
		}
	}
}

func halfPod(name string) *v1.Pod {
	return plugintest.GPUPod(name, "2", "8Gi", 0).Annotation(gpu.FractionAnnotation, "0.5").Obj()
}

func onGPU(name, node, fraction, idx string) *v1.Pod {
	return plugintest.GPUPod(name, "2", "8Gi", 0).Node(node).Annotation(gpu.FractionAnnotation, fraction).Annotation(gpu.GPUIndexAnnotation, idx).Obj()
}

func TestScore(t *testing.T) {
	wholeOnes := func(i int) *v1.Pod { return plugintest.GPUPod(fmt.Sprint("w", i), "4", "16Gi", 1).Obj() }
	halves := func(i int) *v1.Pod { return halfPod(fmt.Sprint("h", i)) }
	tests := []struct {
		name  string
		learn func(i int) *v1.Pod
		pod   *v1.Pod
		nodes []fwk.NodeInfo
		want  []int64
	}{
		{
			// Filling the half-used GPU removes a slice whole-GPU Pods cannot use; opening a fresh
			// GPU on an idle node creates one.
			name: "a share fills a partly used GPU", learn: wholeOnes, pod: halfPod("p"),
			nodes: []fwk.NodeInfo{
				plugintest.NodeInfo(plugintest.GPUNode("idle", "32", "128Gi", 2)),
				plugintest.NodeInfo(plugintest.GPUNode("half", "32", "128Gi", 2), onGPU("x", "half", "0.5", "0")),
			},
			want: []int64{0, 100},
		},
		{
			// On a GPU node, the CPU a CPU-only Pod takes leaves the GPUs without CPU for the learned
			// GPU Pods: fragmentation grows there and not on the CPU-only node.
			name: "a CPU-only pod keeps off GPU nodes it would strand", learn: wholeOnes, pod: plugintest.GPUPod("c", "30", "8Gi", 0).Obj(),
			nodes: []fwk.NodeInfo{
				plugintest.NodeInfo(plugintest.GPUNode("gpu", "32", "128Gi", 2)),
				plugintest.NodeInfo(plugintest.GPUNode("cpu", "32", "128Gi", 0)),
			},
			want: []int64{0, 100},
		},
		{
			name: "a whole GPU from the node already fragmented for halves", learn: halves, pod: plugintest.GPUPod("p", "2", "8Gi", 1).Obj(),
			nodes: []fwk.NodeInfo{
				plugintest.NodeInfo(plugintest.GPUNode("a", "32", "128Gi", 2)),
				plugintest.NodeInfo(plugintest.GPUNode("b", "32", "128Gi", 2), onGPU("x", "b", "0.5", "0")),
			},
			// Both placements leave the remaining capacity usable by halves: a tie.
			want: []int64{100, 100},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl := newPlugin(t, &configv1.GPUFragmentationArgs{})
			learn(t, pl, 20, tt.learn)
			if got := plugintest.Score(t, pl, tt.pod, tt.nodes); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("scores = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestStrandedPercent: a 1-GPU Pod taking 10 of the 16 CPUs that come with 4 free GPUs (4 CPUs
// each) leaves CPU for 1 of the other 3. FGD as published sees the learned 4-CPU shape still fit and
// ties that node with one of 64 CPUs; counting the 2 unfed GPUs as half fragmented breaks the tie. A
// CPU-only Pod's CPU is not counted as taken from the GPUs (AntiStranding's Filter guards it).
func TestStrandedPercent(t *testing.T) {
	nodes := []fwk.NodeInfo{
		plugintest.NodeInfo(plugintest.GPUNode("lean", "16", "128Gi", 4)),
		plugintest.NodeInfo(plugintest.GPUNode("rich", "64", "128Gi", 4)),
	}
	gpuPod, cpuPod := plugintest.GPUPod("g", "10", "8Gi", 1).Obj(), plugintest.GPUPod("c", "10", "8Gi", 0).Obj()
	zero := int32(0)
	for _, tt := range []struct {
		name string
		args *configv1.GPUFragmentationArgs
		pod  *v1.Pod
		want []int64
	}{
		{name: "FGD as published", args: &configv1.GPUFragmentationArgs{StrandedPercent: &zero}, pod: gpuPod, want: []int64{100, 100}},
		{name: "default", args: &configv1.GPUFragmentationArgs{}, pod: gpuPod, want: []int64{0, 100}},
		{name: "a CPU-only pod", args: &configv1.GPUFragmentationArgs{}, pod: cpuPod, want: []int64{100, 100}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pl := newPlugin(t, tt.args)
			learn(t, pl, 20, func(i int) *v1.Pod { return plugintest.GPUPod(fmt.Sprint("w", i), "4", "16Gi", 1).Obj() })
			if got := plugintest.Score(t, pl, tt.pod, nodes); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("scores = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNothingLearnedScoresNeutral(t *testing.T) {
	pl := newPlugin(t, &configv1.GPUFragmentationArgs{})
	nodes := []fwk.NodeInfo{plugintest.NodeInfo(plugintest.GPUNode("a", "32", "128Gi", 2)), plugintest.NodeInfo(plugintest.GPUNode("b", "32", "128Gi", 0))}
	if got := plugintest.Score(t, pl, halfPod("p"), nodes); got != nil {
		t.Errorf("scores = %v, want Score skipped: every node would score the same", got)
	}
}

func TestStaticWorkload(t *testing.T) {
	args := &configv1.GPUFragmentationArgs{Workload: []configv1.WorkloadShape{
		{CPU: resource.MustParse("4"), Memory: resource.MustParse("16Gi"), GPUs: 1, Weight: 1},
	}}
	pl := newPlugin(t, args)
	// PreFilter does not learn when a workload is configured.
	learn(t, pl, 5, func(i int) *v1.Pod { return plugintest.GPUPod(fmt.Sprint("c", i), "1", "1Gi", 0).Obj() })
	if pl.learned.version != 0 {
		t.Error("a configured workload must not be overridden by learning")
	}
	nodes := []fwk.NodeInfo{
		plugintest.NodeInfo(plugintest.GPUNode("idle", "32", "128Gi", 2)),
		plugintest.NodeInfo(plugintest.GPUNode("half", "32", "128Gi", 2), onGPU("x", "half", "0.5", "0")),
	}
	if got := plugintest.Score(t, pl, halfPod("p"), nodes); !reflect.DeepEqual(got, []int64{0, 100}) {
		t.Errorf("scores = %v, want [0 100]", got)
	}
}

func TestWindow(t *testing.T) {
	w := newWindow(3)
	s := func(cpu int64) gpu.Shape { return gpu.Shape{MilliCPU: cpu, Weight: 1} }
	w.add("a", s(1))
	w.add("a", s(1)) // a retry of the same Pod
	w.add("b", s(1))
	w.add("c", s(2))
	if w.counts[keyOf(s(1))] != 2 || w.counts[keyOf(s(2))] != 1 || w.version != 3 {
		t.Fatalf("counts %v version %d", w.counts, w.version)
	}
	w.add("d", s(3)) // evicts a
	w.add("e", s(3)) // evicts b: shape 1 leaves
	if _, ok := w.counts[keyOf(s(1))]; ok || w.counts[keyOf(s(3))] != 2 || len(w.seen) != 3 {
		t.Errorf("after eviction: counts %v seen %v", w.counts, w.seen)
	}
	if _, ok := w.seen[types.UID("a")]; ok {
		t.Error("an evicted Pod is still remembered")
	}
}

func TestNewRejectsBadArgs(t *testing.T) {
	zero, over, negative := int32(0), int32(101), int32(-1)
	tests := []struct {
		args *configv1.GPUFragmentationArgs
		want string
	}{
		{&configv1.GPUFragmentationArgs{WindowSize: &zero}, "pluginConfig.GPUFragmentation.args.windowSize"},
		{&configv1.GPUFragmentationArgs{StrandedPercent: &over}, "pluginConfig.GPUFragmentation.args.strandedPercent"},
		{&configv1.GPUFragmentationArgs{StrandedPercent: &negative}, "pluginConfig.GPUFragmentation.args.strandedPercent"},
		{&configv1.GPUFragmentationArgs{ScarcityPercent: &over}, "pluginConfig.GPUFragmentation.args.scarcityPercent"},
		{&configv1.GPUFragmentationArgs{ScarcityPercent: &negative}, "pluginConfig.GPUFragmentation.args.scarcityPercent"},
		{&configv1.GPUFragmentationArgs{Workload: []configv1.WorkloadShape{{GPUs: 1, GPUFraction: "0.5", Weight: 1}}}, "pluginConfig.GPUFragmentation.args.workload[0].gpuFraction"},
		{&configv1.GPUFragmentationArgs{Workload: []configv1.WorkloadShape{{GPUFraction: "2", Weight: 1}}}, "pluginConfig.GPUFragmentation.args.workload[0].gpuFraction"},
		{&configv1.GPUFragmentationArgs{Workload: []configv1.WorkloadShape{{GPUs: 1}}}, "pluginConfig.GPUFragmentation.args.workload[0].weight"},
		{&configv1.GPUFragmentationArgs{Workload: []configv1.WorkloadShape{{GPUs: 1, Weight: 1, Models: []string{"not a label"}}}}, "pluginConfig.GPUFragmentation.args.workload[0].models[0]"},
	}
	for _, tt := range tests {
		_, err := New(context.Background(), plugintest.Args(t, tt.args, &config.GPUFragmentationArgs{}), nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error = %v, want one naming %s", err, tt.want)
		}
	}
}

// FGD's GPU-level choice: the share goes where it adds the least fragmentation, which Reserve then
// honours, even when another GPU fits it more tightly.
func TestShareGoesToTheGPUScoreAssumed(t *testing.T) {
	pl := newPlugin(t, &configv1.GPUFragmentationArgs{})
	learn(t, pl, 20, func(i int) *v1.Pod { return halfPod(fmt.Sprint("h", i)) })
	// GPU 0 has 500 free, GPU 1 700. A 0.2 share on GPU 0 leaves 300 that halves cannot use; on
	// GPU 1 it leaves 500 and 500, both usable.
	ni := plugintest.NodeInfo(plugintest.GPUNode("n", "32", "128Gi", 2), onGPU("a", "n", "0.5", "0"), onGPU("b", "n", "0.3", "1"))
	pod := plugintest.GPUPod("p", "2", "8Gi", 0).Annotation(gpu.FractionAnnotation, "0.2").Obj()
	state := framework.NewCycleState()
	if s := pl.PreScore(context.Background(), state, pod, []fwk.NodeInfo{ni}); !s.IsSuccess() {
		t.Fatal(s)
	}
	data, err := state.Read(gpu.GPUChooserKey)
	if err != nil {
		t.Fatal(err)
	}
	if idx, ok := data.(gpu.GPUChooser).ChooseGPU(ni); !ok || idx != 1 {
		t.Errorf("ChooseGPU = %d, %v; want 1, true", idx, ok)
	}
	if score, s := pl.Score(context.Background(), state, pod, ni); !s.IsSuccess() || score != 0 {
		t.Errorf("Score = %d, %v; want 0 (no fragmentation added on GPU 1)", score, s)
	}
	full := plugintest.NodeInfo(plugintest.GPUNode("full", "32", "128Gi", 1), onGPU("c", "full", "0.9", "0"))
	if idx, ok := data.(gpu.GPUChooser).ChooseGPU(full); ok {
		t.Errorf("ChooseGPU on a node without room = %d, want none", idx)
	}
}

// Model prices come from the whole cluster, not the nodes this Pod could use: a T4-only Pod sees
// only T4 nodes, where T4-only demand (half of all) looks small, while the cluster has 2 T4s of
// 10 free GPUs (pressure 0.5 x 10 / 2, capped at 1). scarcityPercent scales the price.
func TestScarcityIsClusterWide(t *testing.T) {
	t4 := plugintest.NodeInfo(plugintest.GPUNode("t4", "32", "128Gi", 2, gpu.DefaultModelLabel, "T4"))
	g2 := plugintest.NodeInfo(plugintest.GPUNode("g2", "32", "128Gi", 8, gpu.DefaultModelLabel, "G2"))
	snapshot := cache.NewSnapshot(nil, []*v1.Node{t4.Node(), g2.Node()})
	h, err := plugintest.Handle(snapshot)
	if err != nil {
		t.Fatal(err)
	}
	half, zero := int32(50), int32(0)
	tests := []struct {
		name    string
		percent *int32
		// want is the Score of one whole T4 with no fragmentation added, in thousandths of a GPU.
		want int64
	}{
		{name: "full price by default", want: 1000},
		{name: "half price", percent: &half, want: 500},
		{name: "FGD as published: no price", percent: &zero, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, err := New(context.Background(), plugintest.Args(t, &configv1.GPUFragmentationArgs{ScarcityPercent: tt.percent}, &config.GPUFragmentationArgs{}), h)
			if err != nil {
				t.Fatal(err)
			}
			pl := obj.(*GPUFragmentation)
			t4Only := func(name string) *v1.Pod {
				return plugintest.GPUPod(name, "2", "8Gi", 1).Annotation(gpu.ModelAnnotation, "T4").Obj()
			}
			learn(t, pl, 10, func(i int) *v1.Pod {
				if i%2 == 0 {
					return t4Only(fmt.Sprint("t", i))
				}
				return plugintest.GPUPod(fmt.Sprint("a", i), "2", "8Gi", 1).Obj()
			})
			pod := t4Only("p")
			state := framework.NewCycleState()
			if s := pl.PreScore(context.Background(), state, pod, []fwk.NodeInfo{t4}); !s.IsSuccess() {
				t.Fatal(s)
			}
			if score, s := pl.Score(context.Background(), state, pod, t4); !s.IsSuccess() || score != tt.want*scoreScale {
				t.Errorf("Score = %d, %v; want %d", score, s, tt.want*scoreScale)
			}
		})
	}
}
