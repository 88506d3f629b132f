package gpufit

import (
	"context"
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	resourcehelper "k8s.io/component-helpers/resource"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/names"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/pluginutil"
)

var _ fwk.PostFilterPlugin = &GPUFit{}

// antiStrandingName is AntiStranding's plugin name (that package imports nothing of this one's).
const antiStrandingName = "AntiStranding"

// capacityFilters judge a node's free capacity. The profile runs every check of the Pod's own spec
// before them, so a node they reject as Unschedulable is one the Pod could use once capacity frees
// up (UnschedulableAndUnresolvable, such as too few GPUs in all, it never could).
var capacityFilters = sets.New(Name, names.NodeResourcesFit, antiStrandingName)

// PostFilter ends an unschedulable GPU Pod's event with one hint: how near the cluster comes to
// fitting it, from the same accounting as Filter, over the nodes that pass the Pod's own constraints;
// or, when nothing could ever fit, that waiting will not help. It runs once per failed scheduling
// cycle and never nominates a node (preemption is DefaultPreemption's).
func (pl *GPUFit) PostFilter(_ context.Context, cycleState fwk.CycleState, pod *v1.Pod, statuses fwk.NodeToStatusReader) (*fwk.PostFilterResult, *fwk.Status) {
	s, err := pluginutil.ReadState[*preFilterState](cycleState, preFilterStateKey)
	if err != nil {
		return nil, fwk.NewStatus(fwk.Unschedulable) // no GPU asked, or rejected in PreFilter: nothing to add
	}
	if m, ok := statuses.(interface{ Len() int }); ok && m.Len() == 0 {
		// No node reached Filter: a PreFilter rejected the Pod (a gang no domain holds, a malformed
		// annotation) and its reason says what to change; nodes' capacity is beside the point.
		return nil, fwk.NewStatus(fwk.Unschedulable)
	}
	nodes, err := pl.handle.SnapshotSharedLister().NodeInfos().List()
	if err != nil {
		return nil, fwk.NewStatus(fwk.Unschedulable)
	}
	return nil, fwk.NewStatus(fwk.Unschedulable, pl.nearestFit(pod, s.demand, nodes, statuses))
}

// nearestFit is the hint PostFilter gives.
func (pl *GPUFit) nearestFit(pod *v1.Pod, d gpu.Demand, nodes []fwk.NodeInfo, statuses fwk.NodeToStatusReader) string {
	reqs := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	milliCPU, memory := reqs.Cpu().MilliValue(), reqs.Memory().Value()
	var (
		mostGPUs        int64 // the most GPUs any node has
		candidates      int   // nodes that pass the Pod's own constraints
		best            fwk.NodeInfo
		bestFree        int64 = -1 // free GPUs (whole) or thousandths of one GPU (shares) on best
		gpusFit         int        // candidates with the GPUs free
		noCPU, noMemory int
	)
	for _, ni := range nodes {
		state := pl.states.Of(ni)
		mostGPUs = max(mostGPUs, state.Allocatable)
		if st := statuses.Get(ni.Node().Name); !st.IsSuccess() && (st.Code() != fwk.Unschedulable || !capacityFilters.Has(st.Plugin())) {
			continue
		}
		candidates++
		free := state.FreeWhole()
		if d.Share > 0 {
			free = state.LargestFreeShare()
		}
		if free > bestFree || (free == bestFree && ni.Node().Name < best.Node().Name) {
			best, bestFree = ni, free
		}
		if state.Fits(d) {
			gpusFit++
			alloc, used := ni.GetAllocatable(), ni.GetRequested()
			if milliCPU > alloc.GetMilliCPU()-used.GetMilliCPU() {
				noCPU++
			}
			if memory > alloc.GetMemory()-used.GetMemory() {
				noMemory++
			}
		}
	}
	asks := askedGPUs(d)
	switch {
	// In this order: what no wait can change first.
	case mostGPUs == 0:
		return "no node has GPUs: waiting will not help"
	case mostGPUs < d.Whole:
		return fmt.Sprintf("no node has %d GPUs in total (the most is %d): waiting will not help", d.Whole, mostGPUs)
	case candidates == 0:
		return fmt.Sprintf("no node that the pod's own constraints allow (node name, selector and affinity, taints, ports, GPU model, interconnect) has %s in total: waiting will not help", asks)
	case gpusFit > 0 && noCPU >= noMemory && noCPU > 0:
		return fmt.Sprintf("%d node(s) have %s free but not %s free CPU", noCPU, asks, resource.NewMilliQuantity(milliCPU, resource.DecimalSI))
	case gpusFit > 0 && noMemory > 0:
		return fmt.Sprintf("%d node(s) have %s free but not %s free memory", noMemory, asks, resource.NewQuantity(memory, resource.BinarySI))
	case bestFree == 0:
		return fmt.Sprintf("none of the %d node(s) the pod could use has a GPU free; the pod asks %s", candidates, asks)
	case d.Share > 0:
		return fmt.Sprintf("largest free share: %s on %s; the pod asks %s", shareText(bestFree), describe(best.Node()), askedGPUs(d))
	}
	return fmt.Sprintf("largest free: %d GPUs on %s; the pod asks %d", bestFree, describe(best.Node()), d.Whole)
}

// shareText says how much of one GPU milli thousandths are.
func shareText(milli int64) string {
	switch {
	case milli <= 0:
		return "none"
	case milli >= gpu.MilliPerGPU:
		return "a whole GPU"
	}
	return gpu.FormatFraction(milli) + " of a GPU"
}

// askedGPUs says what the Pod asks: "8 GPUs", "0.5 of a GPU".
func askedGPUs(d gpu.Demand) string {
	if d.Share > 0 {
		return shareText(d.Share)
	}
	return fmt.Sprintf("%d GPUs", d.Whole)
}

// describe names a node with its GPU model and interconnects: "gpu-h100-3 (NVIDIA-H100-80GB-HBM3, infiniband)".
func describe(node *v1.Node) string {
	var what []string
	if model := node.Labels[gpu.DefaultModelLabel]; model != "" {
		what = append(what, model)
	}
	var ics []string
	for k, v := range node.Labels {
		if name, ok := strings.CutPrefix(k, gpu.InterconnectLabelPrefix); ok && v == "true" {
			ics = append(ics, name)
		}
	}
	sort.Strings(ics)
	what = append(what, ics...)
	if len(what) == 0 {
		return node.Name
	}
	return node.Name + " (" + strings.Join(what, ", ") + ")"
}
