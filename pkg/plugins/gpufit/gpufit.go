// Package gpufit places Pods on GPUs: whole GPUs (nvidia.com/gpu) and shares of one GPU (the
// gpu-fraction annotation). Filter rejects nodes with reasons a user can act on; Reserve picks the
// GPU that holds a share and records it on the Pod, PreBind persists it for the device plugin.
package gpufit

import (
	"context"
	"fmt"
	"strconv"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	schedutil "k8s.io/kubernetes/pkg/scheduler/util"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/pluginutil"
)

var (
	_ fwk.PreFilterPlugin   = &GPUFit{}
	_ fwk.FilterPlugin      = &GPUFit{}
	_ fwk.ReservePlugin     = &GPUFit{}
	_ fwk.PreBindPlugin     = &GPUFit{}
	_ fwk.EnqueueExtensions = &GPUFit{}
	_ fwk.SignPlugin        = &GPUFit{}
)

const (
	// Name is the plugin name used in the scheduler configuration.
	Name = "GPUFit"

	preFilterStateKey fwk.StateKey = "PreFilter" + Name

	// ReasonNoGPUs: the node offers no nvidia.com/gpu at all; eviction cannot help.
	ReasonNoGPUs = "node(s) have no GPUs"
	// ReasonTooFewGPUs: the node has GPUs, but fewer in all than the Pod requests; eviction cannot help.
	ReasonTooFewGPUs = "node(s) have fewer GPUs in total than the pod requests"
	// ReasonInsufficientGPUs: the node has enough GPUs, but too many are held by other Pods (whole,
	// or shared: a GPU holding shares is not free for a whole-GPU Pod).
	ReasonInsufficientGPUs = "Insufficient free GPUs"
	// ReasonInsufficientGPUShare: no GPU of the node has the requested share free.
	ReasonInsufficientGPUShare = "Insufficient free GPU share"
	// ReasonInsufficientGPUDevices: the node's GPUs are DRA devices and too many are allocated.
	// Eviction cannot help: kube-scheduler's preemption does not free DRA devices in its dry runs
	// (DynamicResources has no PreFilterExtensions), so it would find no victims. A claim deallocated
	// or deleted requeues the Pod.
	ReasonInsufficientGPUDevices = "Insufficient free GPU devices"
	// ReasonNoGPUForShare: the node's GPUs are DRA devices, which DRA allocates whole: a share never
	// goes there.
	ReasonNoGPUForShare = "node(s) have no GPU a share can use (DRA devices are allocated whole)"
)

// GPUFit is a Filter and Reserve plugin on whole and shared GPUs.
type GPUFit struct {
	handle fwk.Handle
	states *gpu.NodeStates
}

// New builds the plugin; it takes no args.
func New(ctx context.Context, _ runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
	return &GPUFit{handle: h, states: gpu.NodeStatesFor(ctx, h)}, nil
}

// Name returns the plugin name.
func (*GPUFit) Name() string { return Name }

// preFilterState is the Pod's GPU demand, computed once per scheduling cycle, and the cycle's view
// of the nodes' GPUs.
type preFilterState struct {
	demand gpu.Demand
	view   *gpu.View
}

// Clone shares the state: it is never modified after PreFilter.
func (s *preFilterState) Clone() fwk.StateData { return s }

// PreFilter reads the Pod's GPU demand; Pods that ask for no GPU skip Filter, and a malformed
// demand (a bad fraction, or a fraction beside whole GPUs) makes the Pod unschedulable with the error.
// It also drops deleted nodes' cached states.
func (pl *GPUFit) PreFilter(ctx context.Context, cycleState fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) (*fwk.PreFilterResult, *fwk.Status) {
	pl.states.Retain(nodes)
	demand, err := gpu.PodDemand(pod)
	if err != nil {
		return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable, err.Error())
	}
	if demand.None() {
		return nil, fwk.NewStatus(fwk.Skip)
	}
	view, err := pl.states.View(ctx, cycleState, pl.handle)
	if err != nil {
		return nil, fwk.AsStatus(err)
	}
	cycleState.Write(preFilterStateKey, &preFilterState{demand: demand, view: view})
	return nil, nil
}

// SignPod signs the Pod's GPU demand, its only input. Shares are not signed: Reserve puts a share on
// the GPU that this cycle's scores chose, and a batched Pod is placed without scoring. Nor are whole
// GPUs where a DeviceClass maps them.
func (pl *GPUFit) SignPod(_ context.Context, pod *v1.Pod) ([]fwk.SignFragment, *fwk.Status) {
	d, demand, status := gpu.SignDemand(pod, true)
	if status != nil {
		return nil, status
	}
	if d.Whole > 0 && gpu.DRAServesGPUs(pl.handle) {
		// Where DRA serves GPUs the verdict depends on device allocations, which no signature holds
		// (upstream NodeResourcesFit declines these Pods too).
		return nil, fwk.NewStatus(fwk.Unschedulable, "GPUs may come from DRA devices")
	}
	return []fwk.SignFragment{demand}, nil
}

// PreFilterExtensions returns nil: the state does not depend on other Pods.
func (*GPUFit) PreFilterExtensions() fwk.PreFilterExtensions { return nil }

// Filter compares the Pod's demand with the node's GPUs, one by one for shares. On a DRA node it
// counts the free devices, as DynamicResources does before it picks them.
func (pl *GPUFit) Filter(_ context.Context, cycleState fwk.CycleState, _ *v1.Pod, nodeInfo fwk.NodeInfo) *fwk.Status {
	s, err := pluginutil.ReadState[*preFilterState](cycleState, preFilterStateKey)
	if err != nil {
		return fwk.AsStatus(err)
	}
	node := s.view.Of(nodeInfo)
	switch {
	case node.Allocatable == 0:
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonNoGPUs)
	case node.DRA && s.demand.Share > 0:
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonNoGPUForShare)
	case node.Allocatable < s.demand.Whole:
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonTooFewGPUs)
	case node.Fits(s.demand):
		return nil
	case s.demand.Share > 0:
		return fwk.NewStatus(fwk.Unschedulable, ReasonInsufficientGPUShare)
	case node.DRA:
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonInsufficientGPUDevices)
	}
	return fwk.NewStatus(fwk.Unschedulable, ReasonInsufficientGPUs)
}

// Reserve picks the GPU for a share (the one a scoring plugin's gpu.GPUChooser picks, else the
// shared GPU it fits most tightly, else a free one) and writes it on the assumed Pod, so the next
// scheduling cycles see it before the Pod is bound.
func (pl *GPUFit) Reserve(_ context.Context, cycleState fwk.CycleState, pod *v1.Pod, nodeName string) *fwk.Status {
	s, err := pluginutil.ReadState[*preFilterState](cycleState, preFilterStateKey)
	if err != nil || s.demand.Share == 0 {
		return nil // no GPU, or whole GPUs: the device plugin picks those
	}
	nodeInfo, err := pl.handle.SnapshotSharedLister().NodeInfos().Get(nodeName)
	if err != nil {
		return fwk.AsStatus(err)
	}
	node := gpu.ReadNode(nodeInfo)
	idx := node.PickGPU(s.demand.Share)
	// A scoring plugin may have scored the node with the share on another GPU: honour it.
	if chooser, err := pluginutil.ReadState[gpu.GPUChooser](cycleState, gpu.GPUChooserKey); err == nil {
		if chosen, ok := chooser.ChooseGPU(nodeInfo); ok && node.CanTake(s.demand.Share, chosen) {
			idx = chosen
		}
	}
	if idx < 0 {
		return fwk.NewStatus(fwk.Unschedulable, ReasonInsufficientGPUShare)
	}
	annotations := make(map[string]string, len(pod.Annotations)+1)
	for k, v := range pod.Annotations {
		annotations[k] = v
	}
	annotations[gpu.GPUIndexAnnotation] = strconv.Itoa(idx)
	pod.Annotations = annotations
	return nil
}

// Unreserve takes the GPU back off the Pod.
func (*GPUFit) Unreserve(_ context.Context, _ fwk.CycleState, pod *v1.Pod, _ string) {
	if _, ok := pod.Annotations[gpu.GPUIndexAnnotation]; !ok {
		return
	}
	annotations := make(map[string]string, len(pod.Annotations))
	for k, v := range pod.Annotations {
		if k != gpu.GPUIndexAnnotation {
			annotations[k] = v
		}
	}
	pod.Annotations = annotations
}

// PreBindPreFlight: only Pods with a share have a GPU index to persist. The patch touches only our
// annotation, so it may run beside other PreBind plugins (volume binding, DRA claims).
func (*GPUFit) PreBindPreFlight(_ context.Context, _ fwk.CycleState, pod *v1.Pod, _ string) (*fwk.PreBindPreFlightResult, *fwk.Status) {
	if _, ok := pod.Annotations[gpu.GPUIndexAnnotation]; !ok {
		return nil, fwk.NewStatus(fwk.Skip)
	}
	return &fwk.PreBindPreFlightResult{AllowParallel: true}, nil
}

// PreBind writes the GPU index to the API before the Pod is bound, so the device plugin finds it when
// the Pod starts and a restarted scheduler rebuilds its accounting from it.
func (pl *GPUFit) PreBind(ctx context.Context, _ fwk.CycleState, pod *v1.Pod, _ string) *fwk.Status {
	idx, ok := pod.Annotations[gpu.GPUIndexAnnotation]
	if !ok {
		return nil
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, gpu.GPUIndexAnnotation, idx)
	_, err := pl.handle.ClientSet().CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		return fwk.AsStatus(fmt.Errorf("recording GPU %s on pod %s/%s: %w", idx, pod.Namespace, pod.Name, err))
	}
	return nil
}

// EventsToRegister: GPUs come free when a Pod holding them goes away or shrinks, and new GPUs come
// with a new node or a node whose allocatable grows (the device plugin registering late). DRA
// devices come free when a claim is deallocated or deleted, and new ones with a ResourceSlice or a
// DeviceClass that maps nvidia.com/gpu.
func (pl *GPUFit) EventsToRegister(_ context.Context) ([]fwk.ClusterEventWithHint, error) {
	return []fwk.ClusterEventWithHint{
		{Event: fwk.ClusterEvent{Resource: fwk.Pod, ActionType: fwk.Delete | fwk.UpdatePodScaleDown}, QueueingHintFn: pl.isSchedulableAfterPodChange},
		{Event: fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeAllocatable}, QueueingHintFn: pl.isSchedulableAfterNodeChange},
		{Event: fwk.ClusterEvent{Resource: fwk.ResourceClaim, ActionType: fwk.Update | fwk.Delete}, QueueingHintFn: isSchedulableAfterClaimChange},
		{Event: fwk.ClusterEvent{Resource: fwk.ResourceSlice, ActionType: fwk.Add | fwk.Update}, QueueingHintFn: isSchedulableAfterDRAChange},
		{Event: fwk.ClusterEvent{Resource: fwk.DeviceClass, ActionType: fwk.Add | fwk.Update}, QueueingHintFn: isSchedulableAfterDRAChange},
	}, nil
}

// isSchedulableAfterDRAChange queues a Pod that asks for whole GPUs, the only kind DRA devices serve.
func isSchedulableAfterDRAChange(_ klog.Logger, pod *v1.Pod, _, _ interface{}) (fwk.QueueingHint, error) {
	if d, err := gpu.PodDemand(pod); err == nil && d.Whole > 0 {
		return fwk.Queue, nil
	}
	return fwk.QueueSkip, nil
}

// isSchedulableAfterClaimChange queues a whole-GPU Pod when a claim gave its devices back
// (deallocated, or deleted while allocated); a claim being allocated frees nothing.
func isSchedulableAfterClaimChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (fwk.QueueingHint, error) {
	oldClaim, newClaim, err := schedutil.As[*resourceapi.ResourceClaim](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	if oldClaim == nil || oldClaim.Status.Allocation == nil || (newClaim != nil && newClaim.Status.Allocation != nil) {
		return fwk.QueueSkip, nil
	}
	return isSchedulableAfterDRAChange(logger, pod, oldObj, newObj)
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
	before := demandMilli(oldPod)
	after := int64(0)
	if newPod != nil {
		after = demandMilli(newPod)
	}
	if after >= before {
		return fwk.QueueSkip, nil
	}
	logger.V(5).Info("an assigned pod released GPUs", "pod", klog.KObj(pod), "releasingPod", klog.KObj(oldPod), "milliGPUs", before-after)
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
	if want == 0 {
		want = 1 // a share needs one GPU
	}
	now := nodeAllocatableGPUs(newNode)
	if now < want || (oldNode != nil && now <= nodeAllocatableGPUs(oldNode)) {
		return fwk.QueueSkip, nil
	}
	logger.V(5).Info("a node now has enough GPUs", "pod", klog.KObj(pod), "node", klog.KObj(newNode), "gpus", now)
	return fwk.Queue, nil
}

// demandMilli is a Pod's GPU demand in thousandths; an unreadable one counts as none.
func demandMilli(pod *v1.Pod) int64 {
	d, err := gpu.PodDemand(pod)
	if err != nil {
		return 0
	}
	return d.Milli()
}

func nodeAllocatableGPUs(node *v1.Node) int64 {
	q, ok := node.Status.Allocatable[gpu.ResourceName]
	if !ok {
		return 0
	}
	return q.Value()
}
