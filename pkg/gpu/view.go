package gpu

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
)

// View is the one answer, for one scheduling cycle, to how many GPUs a node has, how many are free
// and of which model, whichever way the node publishes them: the device plugin's allocatable
// nvidia.com/gpu, or DRA devices of the DeviceClass that maps nvidia.com/gpu. A node with
// allocatable GPUs is a device-plugin node. Every plugin reads nodes through the cycle's View, so a
// DRA node and a device-plugin node in the same state get the same verdicts and scores.
type View struct {
	states *NodeStates
	dra    *DRAInventory
	// claims and gpuClass find the GPUs a Pod asks for through its ResourceClaims (Demand); nil
	// and "" where no DeviceClass maps nvidia.com/gpu.
	claims   fwk.ResourceClaimTracker
	gpuClass string
}

// viewKey is where the cycle's View is kept: the first plugin to ask reads the DRA inventory, the
// others share it.
const viewKey fwk.StateKey = "gpu-scheduler.io/view"

// Clone shares the view: it is never modified.
func (v *View) Clone() fwk.StateData { return v }

// View returns the cycle's View, made once per cycle (PreFilter and PreScore run one plugin at a
// time). h is the framework's handle; without a DeviceClass mapping nvidia.com/gpu the View reads
// the device plugin's allocatable alone. c may be nil (nothing cached).
func (c *NodeStates) View(ctx context.Context, cycleState fwk.CycleState, h fwk.Handle) (*View, error) {
	if cycleState != nil {
		if v, err := cycleState.Read(viewKey); err == nil {
			if view, ok := v.(*View); ok {
				return view, nil
			}
		}
	}
	reader := &DRAReader{}
	if c != nil {
		reader = &c.draReader
	}
	inv, err := reader.Read(ctx, h)
	if err != nil {
		return nil, err
	}
	v := NewView(c, inv)
	if inv != nil {
		v.claims, v.gpuClass = h.SharedDRAManager().ResourceClaims(), inv.class
	}
	if cycleState != nil {
		cycleState.Write(viewKey, v)
	}
	return v, nil
}

// ViewOrDevicePlugin is View for plugins that judge Pods without GPUs too (AntiStranding) and for
// scores: when the DRA inventory cannot be read, it logs why and counts device-plugin GPUs alone
// rather than fail every Pod of the cluster. GPUFit still fails the Pods that ask for GPUs, with
// the error in their events.
func (c *NodeStates) ViewOrDevicePlugin(ctx context.Context, cycleState fwk.CycleState, h fwk.Handle) *View {
	v, err := c.View(ctx, cycleState, h)
	if err != nil {
		klog.FromContext(ctx).V(2).Info("Counting device-plugin GPUs only", "err", err)
		return NewView(c, nil)
	}
	return v
}

// NewView is a View of the device plugin's GPUs and dra's (nil: none), caching in states (nil:
// nothing), for callers outside a scheduling cycle: the GPU gauges.
func NewView(states *NodeStates, dra *DRAInventory) *View { return &View{states: states, dra: dra} }

// Of returns the node's GPU state; it is shared and must not be modified. A DRA node's state is its
// Pods' (CPU, memory) with the devices as its GPUs, and the allocated devices as held whole. A nil
// View reads the device plugin's GPUs alone.
//
// Where DRA serves GPUs, each node's state is kept per NodeInfo generation and ResourceSlice
// version: one lookup, as on a device-plugin-only cluster. A device allocated to a Pod changes the
// NodeInfo too (the Pod is assumed or bound there); a claim allocated before its Pod is bound is
// seen once the Pod is, and until then DynamicResources, which allocates from the claims
// themselves, has the last word. Devices given back (a claim deallocated or deleted after its Pod
// left) change no NodeInfo: a cycle whose read finds any re-derives every DRA node once.
func (v *View) Of(nodeInfo fwk.NodeInfo) *NodeState {
	if v != nil && v.dra == nil && v.states != nil {
		// No DRA GPUs: the cache's lookup, no deeper a call than NodeStates.Of (Filter and Score
		// run this per node).
		return v.states.cache.Get(nodeInfo, readNodeState)
	}
	return v.of(nodeInfo)
}

// DRA reports whether the cycle counts DRA GPUs, whose states can change with no NodeInfo change.
func (v *View) DRA() bool { return v != nil && v.dra != nil }

func (v *View) of(nodeInfo fwk.NodeInfo) *NodeState {
	switch {
	case v == nil:
		return readNodeState(nodeInfo)
	case v.dra == nil:
		return v.states.Of(nodeInfo)
	case v.states == nil:
		return v.derive(nodeInfo)
	}
	if e, ok := v.states.dra.Lookup(nodeInfo); ok && e.slices == v.dra.slices && e.freed == v.dra.freed {
		return e.state
	}
	s := v.derive(nodeInfo)
	v.states.dra.Set(nodeInfo, viewEntry{state: s, slices: v.dra.slices, freed: v.dra.freed})
	return s
}

// viewEntry is a node's state as a View derived it, and the inventory's versions it was derived
// with: of the slices, and of devices given back.
type viewEntry struct {
	state         *NodeState
	slices, freed uint64
}

// derive is the node's state from its Pods and, for a DRA node, its devices.
func (v *View) derive(nodeInfo fwk.NodeInfo) *NodeState {
	base := v.states.Of(nodeInfo)
	if base.Allocatable > 0 {
		return base
	}
	dn, allocated, ok := v.dra.Node(nodeInfo.Node().Name)
	if !ok || dn.Devices == 0 {
		return base
	}
	s := draState(nodeInfo, base, dn.Devices, allocated)
	s.Model = dn.Model
	return s
}

// draState derives a DRA node's state from its Pods' state: the devices are its GPUs.
func draState(nodeInfo fwk.NodeInfo, base *NodeState, devices, allocated int64) *NodeState {
	alloc := nodeInfo.GetAllocatable()
	return &NodeState{
		Allocatable:    devices,
		WholeUsed:      allocated,
		MilliCPUPerGPU: alloc.GetMilliCPU() / devices,
		MemoryPerGPU:   alloc.GetMemory() / devices,
		NonGPUMilliCPU: base.NonGPUMilliCPU,
		NonGPUMemory:   base.NonGPUMemory,
		DRA:            true,
	}
}

// Model is the node's GPU model: its modelLabel, else the product its DRA devices publish; ok is
// false when it has neither. A nil View reads the label alone.
func (v *View) Model(nodeInfo fwk.NodeInfo, modelLabel string) (model string, ok bool) {
	node := nodeInfo.Node()
	if m, ok := node.Labels[modelLabel]; ok || v == nil {
		return m, ok
	}
	if v.dra == nil {
		return "", false
	}
	m := v.Of(nodeInfo).Model // the cached state: a pointer lookup, where the name would be hashed
	return m, m != ""
}

// Demand is the Pod's GPU demand as the cycle sees it: its nvidia.com/gpu requests or its share
// (PodDemand), plus the devices its ResourceClaims ask of the DeviceClass that maps nvidia.com/gpu
// (each request for an exact count; a request for all of a node's devices has no count and is left
// out). Which devices satisfy a claim stays DynamicResources' decision; this is what scoring,
// anti-stranding and gangs count. A claim not yet created asks nothing yet, and one already
// allocated (shared with another Pod, say) asks nothing more: its devices count as allocated.
func (v *View) Demand(pod *v1.Pod) (Demand, error) {
	d, err := PodDemand(pod)
	if err != nil || v == nil || v.claims == nil || len(pod.Spec.ResourceClaims) == 0 {
		return d, err
	}
	var claimed int64
	for _, pc := range pod.Spec.ResourceClaims {
		name := claimName(pod, pc)
		if name == "" {
			continue
		}
		claim, err := v.claims.Get(pod.Namespace, name)
		if err != nil {
			continue // not created yet: DynamicResources keeps the Pod waiting for it
		}
		if claim.Status.Allocation != nil {
			continue // its devices are allocated already, on the node the Pod must go to
		}
		claimed += gpuDevices(claim, v.gpuClass)
	}
	if claimed > 0 && d.Share > 0 {
		return Demand{}, fmt.Errorf("%s %s beside %d GPUs from ResourceClaims: ask for one or the other", FractionAnnotation, Echo(pod.Annotations[FractionAnnotation]), claimed)
	}
	d.Whole += claimed
	return d, nil
}

// claimName is the name of the ResourceClaim a Pod's claim entry stands for: given, or generated
// from its template (pod status); "" when there is none (yet).
func claimName(pod *v1.Pod, pc v1.PodResourceClaim) string {
	if pc.ResourceClaimName != nil {
		return *pc.ResourceClaimName
	}
	for _, st := range pod.Status.ResourceClaimStatuses {
		if st.Name == pc.Name && st.ResourceClaimName != nil {
			return *st.ResourceClaimName
		}
	}
	return ""
}

// gpuDevices counts the devices of class a claim asks for: exact-count requests, and of requests
// that list alternatives, the first alternative (the one the allocator tries first).
func gpuDevices(claim *resourceapi.ResourceClaim, class string) int64 {
	var n int64
	for _, r := range claim.Spec.Devices.Requests {
		switch {
		case r.Exactly != nil:
			n += exactCount(r.Exactly.DeviceClassName, r.Exactly.AllocationMode, r.Exactly.Count, class)
		case len(r.FirstAvailable) > 0:
			first := r.FirstAvailable[0]
			n += exactCount(first.DeviceClassName, first.AllocationMode, first.Count, class)
		}
	}
	return n
}

func exactCount(className string, mode resourceapi.DeviceAllocationMode, count int64, class string) int64 {
	if className != class || (mode != "" && mode != resourceapi.DeviceAllocationModeExactCount) {
		return 0
	}
	return max(count, 1) // the API defaults an unset count to one
}

// ShapeOf is the Pod's shape (gpu.ShapeOf) with the GPUs of its ResourceClaims, and its demand
// (Demand), read once.
func (v *View) ShapeOf(pod *v1.Pod) (Shape, Demand, error) {
	d, err := v.Demand(pod)
	if err != nil {
		return Shape{}, Demand{}, err
	}
	s, err := shapeOf(pod, d)
	return s, d, err
}
