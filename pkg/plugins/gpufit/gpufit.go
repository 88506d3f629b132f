// Package gpufit filters out nodes without enough free whole GPUs for a Pod, with reasons a user can
// act on: the node has no GPUs, has fewer than the Pod asks for, or has them but they are in use.
package gpufit

import (
	"context"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	schedutil "k8s.io/kubernetes/pkg/scheduler/util"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/internal/pluginutil"
)

var (
	_ framework.PreFilterPlugin   = &GPUFit{}
	_ framework.FilterPlugin      = &GPUFit{}
	_ framework.EnqueueExtensions = &GPUFit{}
)

const (
	// Name is the plugin name used in the scheduler configuration.
	Name = "GPUFit"

	preFilterStateKey fwk.StateKey = "PreFilter" + Name

	// ReasonNoGPUs: the node offers no nvidia.com/gpu at all; eviction cannot help.
	ReasonNoGPUs = "node(s) have no GPUs"
	// ReasonTooFewGPUs: the node has GPUs, but fewer in all than the Pod requests; eviction cannot help.
	ReasonTooFewGPUs = "node(s) have fewer GPUs in total than the pod requests"
	// ReasonInsufficientGPUs: the node has enough GPUs, but too many are requested by other Pods.
	ReasonInsufficientGPUs = "Insufficient free GPUs"
)

// GPUFit is a Filter plugin on free whole GPUs.
type GPUFit struct{}

// New builds the plugin; it takes no args.
func New(_ context.Context, _ runtime.Object, _ framework.Handle) (framework.Plugin, error) {
	return &GPUFit{}, nil
}

// Name returns the plugin name.
func (*GPUFit) Name() string { return Name }

// preFilterState is the Pod's whole-GPU request, computed once per scheduling cycle.
type preFilterState struct {
	gpus int64
}

// Clone shares the state: it is never modified after PreFilter.
func (s *preFilterState) Clone() fwk.StateData { return s }

// PreFilter computes the Pod's GPU request; Pods that request no GPUs skip Filter.
func (*GPUFit) PreFilter(_ context.Context, cycleState fwk.CycleState, pod *v1.Pod, _ []fwk.NodeInfo) (*framework.PreFilterResult, *fwk.Status) {
	gpus := gpu.PodGPURequest(pod)
	if gpus == 0 {
		return nil, fwk.NewStatus(fwk.Skip)
	}
	cycleState.Write(preFilterStateKey, &preFilterState{gpus: gpus})
	return nil, nil
}

// PreFilterExtensions returns nil: the state does not depend on other Pods.
func (*GPUFit) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// Filter compares the Pod's request with the node's allocatable and free GPUs.
func (*GPUFit) Filter(_ context.Context, cycleState fwk.CycleState, _ *v1.Pod, nodeInfo fwk.NodeInfo) *fwk.Status {
	s, err := pluginutil.ReadState[*preFilterState](cycleState, preFilterStateKey)
	if err != nil {
		return fwk.AsStatus(err)
	}
	allocatable, free := gpu.NodeGPUs(nodeInfo)
	switch {
	case allocatable == 0:
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonNoGPUs)
	case allocatable < s.gpus:
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonTooFewGPUs)
	case free < s.gpus:
		return fwk.NewStatus(fwk.Unschedulable, ReasonInsufficientGPUs)
	}
	return nil
}

// EventsToRegister: GPUs come free when a Pod holding them goes away or shrinks, and new GPUs come
// with a new node or a node whose allocatable grows (the device plugin registering late).
func (pl *GPUFit) EventsToRegister(_ context.Context) ([]fwk.ClusterEventWithHint, error) {
	return []fwk.ClusterEventWithHint{
		{Event: fwk.ClusterEvent{Resource: fwk.Pod, ActionType: fwk.Delete | fwk.UpdatePodScaleDown}, QueueingHintFn: pl.isSchedulableAfterPodChange},
		{Event: fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeAllocatable}, QueueingHintFn: pl.isSchedulableAfterNodeChange},
	}, nil
}

// isSchedulableAfterPodChange queues the Pod when an assigned Pod released GPUs.
func (*GPUFit) isSchedulableAfterPodChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (fwk.QueueingHint, error) {
	oldPod, newPod, err := schedutil.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	if oldPod.Spec.NodeName == "" {
		return fwk.QueueSkip, nil
	}
	before := gpu.PodGPURequest(oldPod)
	after := int64(0)
	if newPod != nil {
		after = gpu.PodGPURequest(newPod)
	}
	if after >= before {
		return fwk.QueueSkip, nil
	}
	logger.V(5).Info("an assigned pod released GPUs", "pod", klog.KObj(pod), "releasingPod", klog.KObj(oldPod), "gpus", before-after)
	return fwk.Queue, nil
}

// isSchedulableAfterNodeChange queues the Pod when a node now has GPUs enough for it in total and
// more than before.
func (*GPUFit) isSchedulableAfterNodeChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (fwk.QueueingHint, error) {
	oldNode, newNode, err := schedutil.As[*v1.Node](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	want := gpu.PodGPURequest(pod)
	now := nodeAllocatableGPUs(newNode)
	if now < want || (oldNode != nil && now <= nodeAllocatableGPUs(oldNode)) {
		return fwk.QueueSkip, nil
	}
	logger.V(5).Info("a node now has enough GPUs", "pod", klog.KObj(pod), "node", klog.KObj(newNode), "gpus", now)
	return fwk.Queue, nil
}

func nodeAllocatableGPUs(node *v1.Node) int64 {
	q, ok := node.Status.Allocatable[gpu.ResourceName]
	if !ok {
		return 0
	}
	return q.Value()
}
