// Package antistranding keeps GPUs usable: a free GPU is stranded when its node has no CPU or memory
// left for a Pod to use it with. Non-GPU Pods may not take the CPU and memory held back for a node's
// free GPUs (Filter), and every placement is scored by how many GPUs it would strand (Score).
package antistranding

import (
	"context"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	resourcehelper "k8s.io/component-helpers/resource"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	schedutil "k8s.io/kubernetes/pkg/scheduler/util"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config/validation"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/pluginutil"
)

var (
	_ fwk.PreFilterPlugin   = &AntiStranding{}
	_ fwk.FilterPlugin      = &AntiStranding{}
	_ fwk.PreScorePlugin    = &AntiStranding{}
	_ fwk.ScorePlugin       = &AntiStranding{}
	_ fwk.EnqueueExtensions = &AntiStranding{}
	_ fwk.SignPlugin        = &AntiStranding{}
)

const (
	// Name is the plugin name used in the scheduler configuration.
	Name = "AntiStranding"

	preFilterStateKey fwk.StateKey = "PreFilter" + Name
	preScoreStateKey  fwk.StateKey = "PreScore" + Name

	// ReasonCPUHeldForGPUs: the CPU left on the node is held back for its free GPUs.
	ReasonCPUHeldForGPUs = "node(s) hold their free CPU back for GPU pods"
	// ReasonMemoryHeldForGPUs: the memory left on the node is held back for its free GPUs.
	ReasonMemoryHeldForGPUs = "node(s) hold their free memory back for GPU pods"
)

// AntiStranding is a Filter and Score plugin against stranded GPUs.
type AntiStranding struct {
	milliCPUPerGPU int64
	memoryPerGPU   int64
	handle         fwk.Handle
	states         *gpu.NodeStates
}

// New builds the plugin from AntiStrandingArgs.
func New(ctx context.Context, obj runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
	args, err := pluginutil.DecodeArgs[*config.AntiStrandingArgs](Name, obj)
	if err != nil {
		return nil, err
	}
	if err := validation.ValidateAntiStrandingArgs(field.NewPath("pluginConfig", Name, "args"), args); err != nil {
		return nil, err
	}
	return &AntiStranding{milliCPUPerGPU: args.CPUPerGPU.MilliValue(), memoryPerGPU: args.MemoryPerGPU.Value(),
		handle: h, states: gpu.NodeStatesFor(ctx, h)}, nil
}

// Name returns the plugin name.
func (*AntiStranding) Name() string { return Name }

// podRequest is the Pod's effective CPU, memory and GPU demand, computed once per cycle, and the
// cycle's view of the nodes' GPUs.
type podRequest struct {
	milliCPU, memory int64
	gpus             gpu.Demand
	view             *gpu.View
}

// Clone shares the state: it is never modified after it is written.
func (s *podRequest) Clone() fwk.StateData { return s }

// requestOf reads the Pod's request (its GPUs as gpu.View.Demand counts them, ResourceClaims
// included) and the cycle's view of the nodes' GPUs; a malformed GPU demand makes the Pod
// unschedulable with the error.
func (pl *AntiStranding) requestOf(ctx context.Context, cycleState fwk.CycleState, pod *v1.Pod) (*podRequest, *fwk.Status) {
	view := pl.states.ViewOrDevicePlugin(ctx, cycleState, pl.handle)
	demand, err := view.Demand(pod)
	if err != nil {
		return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable, err.Error())
	}
	reqs := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	return &podRequest{milliCPU: reqs.Cpu().MilliValue(), memory: reqs.Memory().Value(), gpus: demand, view: view}, nil
}

// PreFilter computes the Pod's request; GPU Pods skip Filter, since the hold-back is theirs to use.
// It also drops deleted nodes' cached states.
func (pl *AntiStranding) PreFilter(ctx context.Context, cycleState fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) (*fwk.PreFilterResult, *fwk.Status) {
	pl.states.Retain(nodes)
	req, status := pl.requestOf(ctx, cycleState, pod)
	if status != nil {
		return nil, status
	}
	if !req.gpus.None() {
		return nil, fwk.NewStatus(fwk.Skip)
	}
	cycleState.Write(preFilterStateKey, req)
	return nil, nil
}

// SignPod signs the Pod's GPU demand and its CPU and memory requests, its only inputs.
func (*AntiStranding) SignPod(_ context.Context, pod *v1.Pod) ([]fwk.SignFragment, *fwk.Status) {
	_, demand, status := gpu.SignDemand(pod, false)
	if status != nil {
		return nil, status
	}
	return []fwk.SignFragment{demand, gpu.SignRequests(pod)}, nil
}

// PreFilterExtensions returns nil: the state does not depend on other Pods.
func (*AntiStranding) PreFilterExtensions() fwk.PreFilterExtensions { return nil }

// Filter rejects a non-GPU Pod that would dig into the CPU or memory held back for free GPUs.
func (pl *AntiStranding) Filter(_ context.Context, cycleState fwk.CycleState, _ *v1.Pod, nodeInfo fwk.NodeInfo) *fwk.Status {
	req, err := pluginutil.ReadState[*podRequest](cycleState, preFilterStateKey)
	if err != nil {
		return fwk.AsStatus(err)
	}
	node := req.view.Of(nodeInfo)
	freeGPUs := node.FreeWhole()
	if freeGPUs <= 0 {
		return nil
	}
	cpuLeft, memLeft := leftAfter(nodeInfo, req)
	// A Pod that does not fit at all is NodeResourcesFit's to reject, with its own reason.
	if cpuLeft < 0 || memLeft < 0 {
		return nil
	}
	holdCPU, holdMemory := pl.holdBack(node)
	if cpuLeft < freeGPUs*holdCPU {
		return fwk.NewStatus(fwk.Unschedulable, ReasonCPUHeldForGPUs)
	}
	if memLeft < freeGPUs*holdMemory {
		return fwk.NewStatus(fwk.Unschedulable, ReasonMemoryHeldForGPUs)
	}
	return nil
}

// holdBack is the CPU and memory held back per free GPU of the node (one with GPUs): the args, but
// never more than the node has per GPU. A node built with less (most of openb's P100s: 8 cores per
// GPU) cannot give every GPU the args' amount, and holding it would keep CPU-only Pods off CPU that
// GPU Pods could only use by leaving other GPUs short.
func (pl *AntiStranding) holdBack(node *gpu.NodeState) (milliCPU, memory int64) {
	return min(pl.milliCPUPerGPU, node.MilliCPUPerGPU), min(pl.memoryPerGPU, node.MemoryPerGPU)
}

// PreScore computes the Pod's request for Score.
func (pl *AntiStranding) PreScore(ctx context.Context, cycleState fwk.CycleState, pod *v1.Pod, _ []fwk.NodeInfo) *fwk.Status {
	req, status := pl.requestOf(ctx, cycleState, pod)
	if status != nil {
		return status
	}
	cycleState.Write(preScoreStateKey, req)
	return nil
}

// Score is MaxNodeScore less the share of the node's GPUs the placement would leave stranded.
func (pl *AntiStranding) Score(_ context.Context, cycleState fwk.CycleState, _ *v1.Pod, nodeInfo fwk.NodeInfo) (int64, *fwk.Status) {
	req, err := pluginutil.ReadState[*podRequest](cycleState, preScoreStateKey)
	if err != nil {
		return 0, fwk.AsStatus(err)
	}
	node := req.view.Of(nodeInfo)
	if node.Allocatable <= 0 {
		return fwk.MaxNodeScore, nil
	}
	cpuLeft, memLeft := leftAfter(nodeInfo, req)
	holdCPU, holdMemory := pl.holdBack(node)
	stranded := stranded(node.FreeWholeAfter(req.gpus), cpuLeft, memLeft, holdCPU, holdMemory)
	return fwk.MaxNodeScore * (node.Allocatable - stranded) / node.Allocatable, nil
}

// ScoreExtensions returns nil: scores are already in [0, MaxNodeScore].
func (*AntiStranding) ScoreExtensions() fwk.ScoreExtensions { return nil }

// stranded counts the free GPUs that the CPU and memory left could not serve at the hold-back rate.
func stranded(freeGPUs, cpuLeft, memLeft, holdCPU, holdMemory int64) int64 {
	usable := freeGPUs
	if holdCPU > 0 {
		usable = min(usable, max(cpuLeft, 0)/holdCPU)
	}
	if holdMemory > 0 {
		usable = min(usable, max(memLeft, 0)/holdMemory)
	}
	return freeGPUs - usable
}

// leftAfter returns the CPU and memory the node would have unrequested after placing the Pod.
func leftAfter(nodeInfo fwk.NodeInfo, req *podRequest) (milliCPU, memory int64) {
	alloc, used := nodeInfo.GetAllocatable(), nodeInfo.GetRequested()
	return alloc.GetMilliCPU() - used.GetMilliCPU() - req.milliCPU, alloc.GetMemory() - used.GetMemory() - req.memory
}

// EventsToRegister: the hold-back shrinks when GPUs get used, and CPU or memory frees up when a Pod
// goes away or shrinks, or a node grows or joins.
func (pl *AntiStranding) EventsToRegister(_ context.Context) ([]fwk.ClusterEventWithHint, error) {
	return []fwk.ClusterEventWithHint{
		{Event: fwk.ClusterEvent{Resource: fwk.Pod, ActionType: fwk.Add | fwk.Delete | fwk.UpdatePodScaleDown}, QueueingHintFn: pl.isSchedulableAfterPodChange},
		{Event: fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeAllocatable}},
	}, nil
}

// isSchedulableAfterPodChange queues the Pod when an assigned Pod took GPUs (shrinking the hold-back)
// or released CPU or memory.
func (*AntiStranding) isSchedulableAfterPodChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (fwk.QueueingHint, error) {
	oldPod, newPod, err := schedutil.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	switch {
	case oldPod == nil: // added
		if d, err := gpu.PodDemand(newPod); err == nil && newPod.Spec.NodeName != "" && !d.None() {
			logger.V(5).Info("GPUs were taken, so less CPU and memory is held back", "pod", klog.KObj(pod), "gpuPod", klog.KObj(newPod))
			return fwk.Queue, nil
		}
	case oldPod.Spec.NodeName != "": // deleted or scaled down
		logger.V(5).Info("an assigned pod released resources", "pod", klog.KObj(pod), "releasingPod", klog.KObj(oldPod))
		return fwk.Queue, nil
	}
	return fwk.QueueSkip, nil
}
