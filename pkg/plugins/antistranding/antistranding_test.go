package antistranding

import (
	"context"
	"reflect"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/utils/ptr"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config"
	configv1 "github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config/v1"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/plugintest"
)

func qty(s string) *resource.Quantity {
	q := resource.MustParse(s)
	return &q
}

func newPlugin(t *testing.T, versioned *configv1.AntiStrandingArgs) fwk.Plugin {
	t.Helper()
	pl, err := New(context.Background(), plugintest.Args(t, versioned, &config.AntiStrandingArgs{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

var (
	cpuHeld = fwk.NewStatus(fwk.Unschedulable, ReasonCPUHeldForGPUs)
	memHeld = fwk.NewStatus(fwk.Unschedulable, ReasonMemoryHeldForGPUs)
)

// smallHoldBack holds 2 CPUs and 8Gi back per free GPU, so that one small node shows every case.
var smallHoldBack = &configv1.AntiStrandingArgs{CPUPerGPU: qty("2"), MemoryPerGPU: qty("8Gi")}

// TestFilter holds 2 CPUs and 8Gi back per free GPU on a 32-CPU, 128Gi node with 4 GPUs: with all 4
// free, 8 CPUs and 32Gi are held back.
func TestFilter(t *testing.T) {
	gpuNode := plugintest.GPUNode("g", "32", "128Gi", 4)
	cpuNode := plugintest.GPUNode("c", "32", "128Gi", 0)
	cpuPod := func(cpu, mem string) *v1.Pod { return plugintest.GPUPod("p", cpu, mem, 0).Obj() }
	onG := func(name, cpu, mem string, gpus int) *v1.Pod {
		return plugintest.GPUPod(name, cpu, mem, gpus).Node("g").Obj()
	}
	tests := []struct {
		name     string
		pod      *v1.Pod
		node     *v1.Node
		existing []*v1.Pod
		want     *fwk.Status
	}{
		{name: "leaves exactly the CPU and memory held back", pod: cpuPod("24", "96Gi"), node: gpuNode},
		{name: "leaves plenty", pod: cpuPod("1", "1Gi"), node: gpuNode},
		{name: "digs into the CPU held back", pod: cpuPod("25", "1Gi"), node: gpuNode, want: cpuHeld},
		{name: "digs into the CPU held back by a millicore", pod: cpuPod("24001m", "1Gi"), node: gpuNode, want: cpuHeld},
		{name: "digs into the memory held back", pod: cpuPod("1", "97Gi"), node: gpuNode, want: memHeld},
		{name: "digs into both: CPU named first", pod: cpuPod("25", "97Gi"), node: gpuNode, want: cpuHeld},
		{name: "other pods' CPU counts", pod: cpuPod("15", "1Gi"), node: gpuNode,
			existing: []*v1.Pod{onG("e", "10", "1Gi", 0)}, want: cpuHeld},
		{name: "other pods' CPU counts, enough left", pod: cpuPod("14", "1Gi"), node: gpuNode,
			existing: []*v1.Pod{onG("e", "10", "1Gi", 0)}},
		// 2 of 4 GPUs in use: only 4 CPUs and 16Gi are held back for the other 2.
		{name: "only free GPUs hold back", pod: cpuPod("24", "1Gi"), node: gpuNode,
			existing: []*v1.Pod{onG("e", "4", "16Gi", 2)}},
		{name: "only free GPUs hold back, too much", pod: cpuPod("25", "1Gi"), node: gpuNode,
			existing: []*v1.Pod{onG("e", "4", "16Gi", 2)}, want: cpuHeld},
		{name: "only free GPUs hold back memory", pod: cpuPod("1", "97Gi"), node: gpuNode,
			existing: []*v1.Pod{onG("e", "4", "16Gi", 2)}, want: memHeld},
		{name: "node whose GPUs are all used", pod: cpuPod("30", "126Gi"), node: gpuNode,
			existing: []*v1.Pod{onG("e", "2", "2Gi", 4)}},
		{name: "CPU-only node", pod: cpuPod("32", "128Gi"), node: cpuNode},
		// NodeResourcesFit rejects a Pod that does not fit at all, with "Insufficient cpu": this
		// plugin must not claim it with a hold-back reason.
		{name: "more CPU than the node has is not a hold-back", pod: cpuPod("33", "1Gi"), node: gpuNode},
		{name: "more memory than the node has is not a hold-back", pod: cpuPod("1", "129Gi"), node: gpuNode},
		{name: "GPU pod skips Filter", pod: plugintest.GPUPod("p", "31", "127Gi", 1).Obj(), node: gpuNode},
	}
	pl := newPlugin(t, smallHoldBack)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := plugintest.Filter(t, pl, tt.pod, plugintest.NodeInfo(tt.node, tt.existing...))
			if !got.Equal(tt.want) {
				t.Errorf("status = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPreFilterSkipsGPUPods(t *testing.T) {
	pl := newPlugin(t, &configv1.AntiStrandingArgs{}).(*AntiStranding)
	_, status := pl.PreFilter(context.Background(), framework.NewCycleState(), plugintest.GPUPod("p", "1", "1Gi", 1).Obj(), nil)
	if !status.IsSkip() {
		t.Errorf("GPU pod: status = %v, want Skip", status)
	}
	_, status = pl.PreFilter(context.Background(), framework.NewCycleState(), plugintest.GPUPod("p", "1", "1Gi", 0).Obj(), nil)
	if !status.IsSuccess() {
		t.Errorf("CPU-only pod: status = %v, want success", status)
	}
}

// TestScore: score = 100 * (allocatable GPUs - stranded) / allocatable, where the stranded GPUs are
// the free ones (after placing the Pod) that the CPU and memory left cannot serve at 2 CPUs and 8Gi
// each.
func TestScore(t *testing.T) {
	small := plugintest.GPUNode("small", "64", "512Gi", 8)
	big := plugintest.GPUNode("big", "128", "1024Gi", 8)
	cpuOnly := plugintest.GPUNode("cpu", "64", "512Gi", 0)
	usedSmall := func() fwk.NodeInfo {
		return plugintest.NodeInfo(small, plugintest.GPUPod("e", "40", "8Gi", 4).Node("small").Obj())
	}
	tests := []struct {
		name  string
		pod   *v1.Pod
		nodes []fwk.NodeInfo
		want  []int64
	}{
		// small: 7 GPUs left free, 4 CPUs left serve 2 of them: 5 stranded, 100*3/8 = 37.
		// big: 68 CPUs left serve all 7; the GPU-less node strands nothing.
		{name: "GPU pod taking most of the CPU", pod: plugintest.GPUPod("p", "60", "8Gi", 1).Obj(),
			nodes: []fwk.NodeInfo{plugintest.NodeInfo(small), plugintest.NodeInfo(big), plugintest.NodeInfo(cpuOnly)},
			want:  []int64{37, 100, 100}},
		// small: 12Gi left serve 1 of 7 free GPUs: 6 stranded, 100*2/8 = 25.
		{name: "GPU pod taking most of the memory", pod: plugintest.GPUPod("p", "1", "500Gi", 1).Obj(),
			nodes: []fwk.NodeInfo{plugintest.NodeInfo(small), plugintest.NodeInfo(big), plugintest.NodeInfo(cpuOnly)},
			want:  []int64{25, 100, 100}},
		{name: "GPU pod leaving CPU for the other GPUs", pod: plugintest.GPUPod("p", "8", "8Gi", 1).Obj(),
			nodes: []fwk.NodeInfo{plugintest.NodeInfo(small)},
			want:  []int64{100}},
		{name: "GPU pod taking every GPU strands none", pod: plugintest.GPUPod("p", "64", "512Gi", 8).Obj(),
			nodes: []fwk.NodeInfo{plugintest.NodeInfo(small)},
			want:  []int64{100}},
		// 4 CPUs left serve 2 of 8 free GPUs: 6 stranded, 100*2/8 = 25.
		{name: "CPU-only pod strands GPUs too", pod: plugintest.GPUPod("p", "60", "8Gi", 0).Obj(),
			nodes: []fwk.NodeInfo{plugintest.NodeInfo(small), plugintest.NodeInfo(cpuOnly)},
			want:  []int64{25, 100}},
		// 4 GPUs and 40 CPUs in use: 14 CPUs left serve the 3 GPUs left free.
		{name: "other pods' use counts, nothing stranded", pod: plugintest.GPUPod("p", "10", "8Gi", 1).Obj(),
			nodes: []fwk.NodeInfo{usedSmall()},
			want:  []int64{100}},
		// 4 CPUs left serve 2 of the 3 GPUs left free: 1 stranded, 100*7/8 = 87.
		{name: "other pods' use counts, one stranded", pod: plugintest.GPUPod("p", "20", "8Gi", 1).Obj(),
			nodes: []fwk.NodeInfo{usedSmall()},
			want:  []int64{87}},
		// More CPU than the node has left: every free GPU is stranded, 100*1/8 = 12.
		{name: "pod larger than the node", pod: plugintest.GPUPod("p", "70", "8Gi", 1).Obj(),
			nodes: []fwk.NodeInfo{plugintest.NodeInfo(small)},
			want:  []int64{12}},
	}
	pl := newPlugin(t, smallHoldBack)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := plugintest.Score(t, pl, tt.pod, tt.nodes)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("scores = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestDefaultHoldBack: by default a free GPU keeps about what a GPU Pod asks with it (12 CPUs and
// 48Gi), here on a node shaped like openb's G2 (8 GPUs, 96 CPUs, 384Gi), but never more than the
// node has per GPU (openb's P100: 2 GPUs, 16 CPUs, 120Gi).
func TestDefaultHoldBack(t *testing.T) {
	g2 := plugintest.GPUNode("g2", "96", "384Gi", 8)
	p100 := plugintest.GPUNode("p100", "16", "120Gi", 2)
	memoryPoor := plugintest.GPUNode("m", "96", "256Gi", 8)
	tests := []struct {
		name     string
		node     *v1.Node
		pod      *v1.Pod
		existing []*v1.Pod
		want     *fwk.Status
	}{
		{name: "every GPU free: all CPU held back", node: g2, want: cpuHeld},
		{name: "7 GPUs taken with 72 CPUs: 24 left, 12 held for the free GPU", node: g2,
			existing: []*v1.Pod{plugintest.GPUPod("e", "72", "48Gi", 7).Node("g2").Obj()}},
		{name: "7 GPUs taken with 73 CPUs: 23 left", node: g2, want: cpuHeld,
			existing: []*v1.Pod{plugintest.GPUPod("e", "73", "48Gi", 7).Node("g2").Obj()}},
		{name: "7 GPUs taken with 289Gi: 95Gi left", node: g2, want: memHeld,
			existing: []*v1.Pod{plugintest.GPUPod("e", "8", "289Gi", 7).Node("g2").Obj()}},
		{name: "8 CPUs per GPU: 8, not 12, held for the free GPU", node: p100,
			pod:      plugintest.GPUPod("p", "6", "1Gi", 0).Obj(),
			existing: []*v1.Pod{plugintest.GPUPod("e", "2", "8Gi", 1).Node("p100").Obj()}},
		{name: "8 CPUs per GPU: digging into those 8", node: p100, want: cpuHeld,
			pod:      plugintest.GPUPod("p", "6001m", "1Gi", 0).Obj(),
			existing: []*v1.Pod{plugintest.GPUPod("e", "2", "8Gi", 1).Node("p100").Obj()}},
		{name: "32Gi per GPU: 32Gi, not 48Gi, held for the free GPU", node: memoryPoor,
			pod:      plugintest.GPUPod("p", "1", "24Gi", 0).Obj(),
			existing: []*v1.Pod{plugintest.GPUPod("e", "8", "200Gi", 7).Node("m").Obj()}},
		{name: "32Gi per GPU: digging into those 32Gi", node: memoryPoor, want: memHeld,
			pod:      plugintest.GPUPod("p", "1", "25Gi", 0).Obj(),
			existing: []*v1.Pod{plugintest.GPUPod("e", "8", "200Gi", 7).Node("m").Obj()}},
	}
	pl := newPlugin(t, &configv1.AntiStrandingArgs{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := tt.pod
			if pod == nil {
				pod = plugintest.GPUPod("p", "12", "48Gi", 0).Obj()
			}
			got := plugintest.Filter(t, pl, pod, plugintest.NodeInfo(tt.node, tt.existing...))
			if !got.Equal(tt.want) {
				t.Errorf("status = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestScoreComparesPlacements: on one node, the GPU Pod that takes most of its CPU scores below the
// one that leaves CPU for the free GPUs.
func TestScoreComparesPlacements(t *testing.T) {
	pl := newPlugin(t, smallHoldBack)
	node := []fwk.NodeInfo{plugintest.NodeInfo(plugintest.GPUNode("n", "64", "512Gi", 8))}
	greedy := plugintest.Score(t, pl, plugintest.GPUPod("greedy", "60", "8Gi", 1).Obj(), node)[0]
	modest := plugintest.Score(t, pl, plugintest.GPUPod("modest", "8", "8Gi", 1).Obj(), node)[0]
	if greedy != 37 || modest != 100 {
		t.Errorf("greedy = %d, modest = %d; want 37 and 100", greedy, modest)
	}
}

func TestZeroHoldBackDisables(t *testing.T) {
	pl := newPlugin(t, &configv1.AntiStrandingArgs{CPUPerGPU: qty("0"), MemoryPerGPU: qty("0")})
	node := plugintest.GPUNode("g", "32", "128Gi", 4)
	if got := plugintest.Filter(t, pl, plugintest.GPUPod("p", "32", "128Gi", 0).Obj(), plugintest.NodeInfo(node)); got != nil {
		t.Errorf("Filter: status = %v, want success", got)
	}
	got := plugintest.Score(t, pl, plugintest.GPUPod("p", "31", "127Gi", 1).Obj(), []fwk.NodeInfo{plugintest.NodeInfo(node)})
	if !reflect.DeepEqual(got, []int64{100}) {
		t.Errorf("Score = %v, want [100]", got)
	}
}

func TestCustomArgs(t *testing.T) {
	gpuNode := plugintest.GPUNode("g", "32", "128Gi", 4)
	big := plugintest.GPUNode("big", "128", "1024Gi", 8)
	tests := []struct {
		name        string
		cpu, memory string
		pod         *v1.Pod
		node        *v1.Node
		want        *fwk.Status
		// wantScore, when set, is the Score on node instead of the Filter status.
		wantScore int64
	}{
		// 4 CPUs and 16Gi per free GPU: 16 CPUs and 64Gi held back on gpuNode.
		{name: "4 CPUs per GPU, enough left", cpu: "4", memory: "16Gi", pod: plugintest.GPUPod("p", "16", "1Gi", 0).Obj(), node: gpuNode},
		{name: "4 CPUs per GPU, too little left", cpu: "4", memory: "16Gi", pod: plugintest.GPUPod("p", "17", "1Gi", 0).Obj(), node: gpuNode, want: cpuHeld},
		{name: "16Gi per GPU, enough left", cpu: "4", memory: "16Gi", pod: plugintest.GPUPod("p", "1", "64Gi", 0).Obj(), node: gpuNode},
		{name: "16Gi per GPU, too little left", cpu: "4", memory: "16Gi", pod: plugintest.GPUPod("p", "1", "65Gi", 0).Obj(), node: gpuNode, want: memHeld},
		{name: "half a CPU per GPU, enough left", cpu: "500m", memory: "0", pod: plugintest.GPUPod("p", "30", "1Gi", 0).Obj(), node: gpuNode},
		{name: "half a CPU per GPU, too little left", cpu: "500m", memory: "0", pod: plugintest.GPUPod("p", "30500m", "1Gi", 0).Obj(), node: gpuNode, want: cpuHeld},
		{name: "CPU only, memory not held", cpu: "2", memory: "0", pod: plugintest.GPUPod("p", "1", "128Gi", 0).Obj(), node: gpuNode},
		// big after a 1-GPU, 100-CPU pod: 28 CPUs serve all 7 free GPUs at 4 each.
		{name: "score at 4 CPUs per GPU, nothing stranded", cpu: "4", memory: "16Gi", pod: plugintest.GPUPod("p", "100", "8Gi", 1).Obj(), node: big, wantScore: 100},
		// 24 CPUs serve 6 of 7: 100*7/8 = 87.
		{name: "score at 4 CPUs per GPU, one stranded", cpu: "4", memory: "16Gi", pod: plugintest.GPUPod("p", "104", "8Gi", 1).Obj(), node: big, wantScore: 87},
		// 1024Gi - 920Gi = 104Gi serve 6 of 7 at 16Gi: 100*7/8 = 87.
		{name: "score at 16Gi per GPU, one stranded", cpu: "4", memory: "16Gi", pod: plugintest.GPUPod("p", "1", "920Gi", 1).Obj(), node: big, wantScore: 87},
		// At 32 CPUs per GPU the hold-back is capped at big's 16 per GPU: 28 CPUs left serve 1 of 7.
		{name: "score holds back no more than the node has per GPU", cpu: "32", memory: "0", pod: plugintest.GPUPod("p", "100", "8Gi", 1).Obj(), node: big, wantScore: 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl := newPlugin(t, &configv1.AntiStrandingArgs{CPUPerGPU: qty(tt.cpu), MemoryPerGPU: qty(tt.memory)})
			if tt.wantScore != 0 {
				got := plugintest.Score(t, pl, tt.pod, []fwk.NodeInfo{plugintest.NodeInfo(tt.node)})
				if got[0] != tt.wantScore {
					t.Errorf("score = %d, want %d", got[0], tt.wantScore)
				}
				return
			}
			if got := plugintest.Filter(t, pl, tt.pod, plugintest.NodeInfo(tt.node)); !got.Equal(tt.want) {
				t.Errorf("status = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name        string
		cpu, memory string
		wantErrs    []string
	}{
		{name: "defaults", cpu: "2", memory: "8Gi"},
		{name: "zero", cpu: "0", memory: "0"},
		{name: "negative CPU", cpu: "-1", memory: "8Gi",
			wantErrs: []string{`pluginConfig.AntiStranding.args.cpuPerGPU: Invalid value: "-1": must not be negative`}},
		{name: "negative memory", cpu: "2", memory: "-1Gi",
			wantErrs: []string{`pluginConfig.AntiStranding.args.memoryPerGPU: Invalid value: "-1Gi": must not be negative`}},
		{name: "both negative", cpu: "-100m", memory: "-1",
			wantErrs: []string{"pluginConfig.AntiStranding.args.cpuPerGPU: Invalid value", "pluginConfig.AntiStranding.args.memoryPerGPU: Invalid value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := &config.AntiStrandingArgs{CPUPerGPU: resource.MustParse(tt.cpu), MemoryPerGPU: resource.MustParse(tt.memory)}
			_, err := New(context.Background(), args, nil)
			if len(tt.wantErrs) == 0 {
				if err != nil {
					t.Errorf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New succeeded, want errors %q", tt.wantErrs)
			}
			for _, want := range tt.wantErrs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("New: error %q, want it to hold %q", err, want)
				}
			}
		})
	}
	if _, err := New(context.Background(), &config.GPUModelArgs{}, nil); err == nil || !strings.Contains(err.Error(), "*config.AntiStrandingArgs") {
		t.Errorf("New with another plugin's args: error %v, want one naming the args type", err)
	}
}

func TestQueueingHints(t *testing.T) {
	logger, _ := ktesting.NewTestContext(t)
	pod := plugintest.GPUPod("p", "8", "8Gi", 0).Obj()
	assignedGPU := plugintest.GPUPod("a", "4", "8Gi", 2).Node("n").Obj()
	assignedCPU := plugintest.GPUPod("c", "4", "8Gi", 0).Node("n").Obj()
	pendingGPU := plugintest.GPUPod("u", "4", "8Gi", 2).Obj()
	tests := []struct {
		name           string
		oldObj, newObj interface{}
		want           fwk.QueueingHint
	}{
		{name: "GPU pod bound: less held back", newObj: assignedGPU, want: fwk.Queue},
		{name: "CPU-only pod bound", newObj: assignedCPU, want: fwk.QueueSkip},
		{name: "pending GPU pod added", newObj: pendingGPU, want: fwk.QueueSkip},
		{name: "assigned GPU pod deleted", oldObj: assignedGPU, want: fwk.Queue},
		{name: "assigned CPU-only pod deleted", oldObj: assignedCPU, want: fwk.Queue},
		{name: "pending pod deleted", oldObj: pendingGPU, want: fwk.QueueSkip},
		{name: "assigned pod scaled down", oldObj: assignedCPU, newObj: plugintest.GPUPod("c", "2", "8Gi", 0).Node("n").Obj(), want: fwk.Queue},
		{name: "pending pod updated", oldObj: pendingGPU, newObj: plugintest.GPUPod("u", "2", "8Gi", 2).Obj(), want: fwk.QueueSkip},
	}
	pl := newPlugin(t, &configv1.AntiStrandingArgs{}).(*AntiStranding)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pl.isSchedulableAfterPodChange(logger, pod, tt.oldObj, tt.newObj)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("hint = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEventsToRegister(t *testing.T) {
	events, err := newPlugin(t, &configv1.AntiStrandingArgs{}).(*AntiStranding).EventsToRegister(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		action  fwk.ActionType
		hasHint bool
	}
	wants := map[fwk.EventResource]want{
		fwk.Pod:  {action: fwk.Add | fwk.Delete | fwk.UpdatePodScaleDown, hasHint: true},
		fwk.Node: {action: fwk.Add | fwk.UpdateNodeAllocatable, hasHint: false},
	}
	if len(events) != len(wants) {
		t.Fatalf("got %d events, want %d", len(events), len(wants))
	}
	for _, e := range events {
		w, ok := wants[e.Event.Resource]
		if !ok || e.Event.ActionType != w.action || (e.QueueingHintFn != nil) != w.hasHint {
			t.Errorf("event %v: action %v, hint set %v; want %+v", e.Event.Resource, e.Event.ActionType, e.QueueingHintFn != nil, w)
		}
	}
}

// On a node whose GPUs are DRA devices the free devices hold CPU and memory back as free GPUs do; a
// Pod whose ResourceClaim asks for GPUs is a GPU Pod, held back from nothing.
func TestDRAGPUs(t *testing.T) {
	class := gpu.NVIDIAGPUClass()
	pl := newDRAPlugin(t, plugintest.DRAManager{
		Classes: plugintest.GPUClasses(class), Slices: []*resourceapi.ResourceSlice{gpu.NVIDIAGPUSlice("dra", "NVIDIA-B200", 4)},
		Claims: []*resourceapi.ResourceClaim{plugintest.GPUClaim("default", "two-gpus", class.Name, 2)}})
	node := plugintest.NodeInfo(plugintest.GPUNode("dra", "32", "128Gi", 0))
	if got := plugintest.Filter(t, pl, plugintest.GPUPod("cpu", "25", "1Gi", 0).Obj(), node); !got.Equal(cpuHeld) {
		t.Errorf("CPU-only pod digging into the CPU held back for 4 free devices: %v, want %v", got, cpuHeld)
	}
	claimPod := plugintest.GPUPod("claim", "25", "1Gi", 0).Obj()
	claimPod.Spec.ResourceClaims = []v1.PodResourceClaim{{Name: "gpus", ResourceClaimName: ptr.To("two-gpus")}}
	if got := plugintest.Filter(t, pl, claimPod, node); !got.IsSuccess() {
		t.Errorf("a Pod claiming GPUs: %v, want it passed", got)
	}
}

// A DRA inventory that cannot be read (a DeviceClass whose selector does not compile) leaves Pods
// without GPUs to the device-plugin GPUs' hold-back instead of failing them.
func TestDRAUnreadable(t *testing.T) {
	class := gpu.NVIDIAGPUClass()
	class.Spec.Selectors[0].CEL.Expression = "device.driver =="
	pl := newDRAPlugin(t, plugintest.DRAManager{
		Classes: plugintest.GPUClasses(class), Slices: []*resourceapi.ResourceSlice{gpu.NVIDIAGPUSlice("dra", "NVIDIA-B200", 4)}})
	node := plugintest.NodeInfo(plugintest.GPUNode("g", "32", "128Gi", 4))
	if got := plugintest.Filter(t, pl, plugintest.GPUPod("cpu", "25", "1Gi", 0).Obj(), node); !got.Equal(cpuHeld) {
		t.Errorf("CPU-only pod on a device-plugin node: %v, want %v", got, cpuHeld)
	}
	if got := plugintest.Filter(t, pl, plugintest.GPUPod("cpu", "1", "1Gi", 0).Obj(), node); !got.IsSuccess() {
		t.Errorf("small CPU-only pod: %v, want it passed", got)
	}
}

// newDRAPlugin is the plugin with smallHoldBack in a framework whose DRA manager is m.
func newDRAPlugin(t *testing.T, m plugintest.DRAManager) fwk.Plugin {
	t.Helper()
	pl, err := New(context.Background(), plugintest.Args(t, smallHoldBack, &config.AntiStrandingArgs{}), plugintest.DRAHandle(t, m))
	if err != nil {
		t.Fatal(err)
	}
	return pl
}
