package gpufit

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/plugintest"
)

var gpuReq = func(n string) map[v1.ResourceName]string { return map[v1.ResourceName]string{gpu.ResourceName: n} }

func TestFilter(t *testing.T) {
	node8 := plugintest.GPUNode("n8", "96", "768Gi", 8)
	tests := []struct {
		name     string
		pod      *v1.Pod
		node     *v1.Node
		existing []*v1.Pod
		want     *fwk.Status
	}{
		{name: "CPU-only pod skips", pod: plugintest.GPUPod("p", "1", "1Gi", 0).Obj(), node: plugintest.GPUNode("cpu", "8", "8Gi", 0)},
		{name: "fits on an idle node", pod: plugintest.GPUPod("p", "1", "1Gi", 2).Obj(), node: node8},
		{name: "fits exactly the free GPUs", pod: plugintest.GPUPod("p", "1", "1Gi", 2).Obj(), node: node8,
			existing: []*v1.Pod{plugintest.GPUPod("e", "1", "1Gi", 6).Node("n8").Obj()}},
		{name: "insufficient free GPUs", pod: plugintest.GPUPod("p", "1", "1Gi", 3).Obj(), node: node8,
			existing: []*v1.Pod{plugintest.GPUPod("e", "1", "1Gi", 6).Node("n8").Obj()},
			want:     fwk.NewStatus(fwk.Unschedulable, ReasonInsufficientGPUs)},
		{name: "node without GPUs", pod: plugintest.GPUPod("p", "1", "1Gi", 1).Obj(), node: plugintest.GPUNode("cpu", "8", "8Gi", 0),
			want: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonNoGPUs)},
		{name: "node with fewer GPUs than requested in total", pod: plugintest.GPUPod("p", "1", "1Gi", 4).Obj(), node: plugintest.GPUNode("t4", "8", "8Gi", 2),
			want: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonTooFewGPUs)},
		{name: "init container request counts when it is the largest", node: node8,
			pod:      st.MakePod().Name("p").Req(gpuReq("1")).InitReq(gpuReq("3")).Obj(),
			existing: []*v1.Pod{plugintest.GPUPod("e", "1", "1Gi", 6).Node("n8").Obj()},
			want:     fwk.NewStatus(fwk.Unschedulable, ReasonInsufficientGPUs)},
		{name: "sidecar request adds to the containers", node: node8,
			pod:      st.MakePod().Name("p").Req(gpuReq("1")).SidecarReq(gpuReq("1")).Obj(),
			existing: []*v1.Pod{plugintest.GPUPod("e", "1", "1Gi", 7).Node("n8").Obj()},
			want:     fwk.NewStatus(fwk.Unschedulable, ReasonInsufficientGPUs)},
		{name: "sidecar pod fits when two are free", node: node8,
			pod:      st.MakePod().Name("p").Req(gpuReq("1")).SidecarReq(gpuReq("1")).Obj(),
			existing: []*v1.Pod{plugintest.GPUPod("e", "1", "1Gi", 6).Node("n8").Obj()}},
		{name: "overhead counts", node: node8,
			pod:      st.MakePod().Name("p").Req(gpuReq("1")).Overhead(v1.ResourceList{gpu.ResourceName: resourceQty("1")}).Obj(),
			existing: []*v1.Pod{plugintest.GPUPod("e", "1", "1Gi", 7).Node("n8").Obj()},
			want:     fwk.NewStatus(fwk.Unschedulable, ReasonInsufficientGPUs)},
	}
	pl, err := New(context.Background(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := plugintest.Filter(t, pl, tt.pod, plugintest.NodeInfo(tt.node, tt.existing...))
			if !got.Equal(tt.want) {
				t.Errorf("status = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPreFilterSkipsCPUOnlyPods(t *testing.T) {
	pl := &GPUFit{}
	_, status := pl.PreFilter(context.Background(), nil, plugintest.GPUPod("p", "1", "1Gi", 0).Obj(), nil)
	if !status.IsSkip() {
		t.Errorf("status = %v, want Skip", status)
	}
}

func TestQueueingHints(t *testing.T) {
	logger, _ := ktesting.NewTestContext(t)
	pod := plugintest.GPUPod("p", "1", "1Gi", 2).Obj()
	assigned := plugintest.GPUPod("a", "1", "1Gi", 4).Node("n").Obj()
	unassigned := plugintest.GPUPod("u", "1", "1Gi", 4).Obj()
	cpuOnly := plugintest.GPUPod("c", "1", "1Gi", 0).Node("n").Obj()
	tests := []struct {
		name           string
		hint           string
		oldObj, newObj interface{}
		want           fwk.QueueingHint
	}{
		{name: "assigned GPU pod deleted", hint: "pod", oldObj: assigned, want: fwk.Queue},
		{name: "unassigned pod deleted", hint: "pod", oldObj: unassigned, want: fwk.QueueSkip},
		{name: "CPU-only pod deleted", hint: "pod", oldObj: cpuOnly, want: fwk.QueueSkip},
		{name: "assigned pod scaled down its GPUs", hint: "pod", oldObj: assigned, newObj: plugintest.GPUPod("a", "1", "1Gi", 1).Node("n").Obj(), want: fwk.Queue},
		{name: "node with enough GPUs added", hint: "node", newObj: plugintest.GPUNode("n", "8", "8Gi", 2), want: fwk.Queue},
		{name: "node with too few GPUs added", hint: "node", newObj: plugintest.GPUNode("n", "8", "8Gi", 1), want: fwk.QueueSkip},
		{name: "node gained GPUs", hint: "node", oldObj: plugintest.GPUNode("n", "8", "8Gi", 0), newObj: plugintest.GPUNode("n", "8", "8Gi", 8), want: fwk.Queue},
		{name: "node update without more GPUs", hint: "node", oldObj: plugintest.GPUNode("n", "8", "8Gi", 8), newObj: plugintest.GPUNode("n", "16", "8Gi", 8), want: fwk.QueueSkip},
	}
	pl := &GPUFit{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fn := pl.isSchedulableAfterPodChange
			if tt.hint == "node" {
				fn = pl.isSchedulableAfterNodeChange
			}
			got, err := fn(logger, pod, tt.oldObj, tt.newObj)
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
	events, err := (&GPUFit{}).EventsToRegister(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[fwk.EventResource]fwk.ActionType{fwk.Pod: fwk.Delete | fwk.UpdatePodScaleDown, fwk.Node: fwk.Add | fwk.UpdateNodeAllocatable,
		fwk.ResourceClaim: fwk.Update | fwk.Delete, fwk.ResourceSlice: fwk.Add | fwk.Update, fwk.DeviceClass: fwk.Add | fwk.Update}
	if len(events) != len(want) {
		t.Fatalf("got %d events, want %d", len(events), len(want))
	}
	for _, e := range events {
		if want[e.Event.Resource] != e.Event.ActionType || e.QueueingHintFn == nil {
			t.Errorf("event %v: action %v, hint set %v", e.Event.Resource, e.Event.ActionType, e.QueueingHintFn != nil)
		}
	}
	// A DRA change can help whole GPUs only.
	for _, tt := range []struct {
		pod  *v1.Pod
		want fwk.QueueingHint
	}{
		{plugintest.GPUPod("whole", "1", "1Gi", 2).Obj(), fwk.Queue},
		{plugintest.GPUPod("share", "1", "1Gi", 0).Annotation(gpu.FractionAnnotation, "0.5").Obj(), fwk.QueueSkip},
		{plugintest.GPUPod("cpu", "1", "1Gi", 0).Obj(), fwk.QueueSkip},
	} {
		if got, _ := isSchedulableAfterDRAChange(klog.Background(), tt.pod, nil, nil); got != tt.want {
			t.Errorf("%s after a DRA change: %v, want %v", tt.pod.Name, got, tt.want)
		}
	}
	// Of claim changes, only devices given back help.
	allocated := &resourceapi.ResourceClaim{Status: resourceapi.ResourceClaimStatus{Allocation: &resourceapi.AllocationResult{}}}
	pending := &resourceapi.ResourceClaim{}
	whole := plugintest.GPUPod("whole", "1", "1Gi", 2).Obj()
	for _, tt := range []struct {
		name     string
		old, new *resourceapi.ResourceClaim
		want     fwk.QueueingHint
	}{
		{"deallocated", allocated, pending, fwk.Queue},
		{"deleted while allocated", allocated, nil, fwk.Queue},
		{"allocated", pending, allocated, fwk.QueueSkip},
		{"deleted unallocated", pending, nil, fwk.QueueSkip},
		{"still allocated", allocated, allocated, fwk.QueueSkip},
	} {
		var newObj interface{}
		if tt.new != nil {
			newObj = tt.new
		}
		if got, err := isSchedulableAfterClaimChange(klog.Background(), whole, tt.old, newObj); got != tt.want || err != nil {
			t.Errorf("claim %s: %v (%v), want %v", tt.name, got, err, tt.want)
		}
	}
}
