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

// capacityFilters judge a node's capacity. The profile runs every check of the Pod's own spec before
// them, so a node they reject is one the Pod's spec allows.
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
	return nil, fwk.NewStatus(fwk.Unschedulable, nearestFit(pod, s.demand, s.view, nodes, statuses))
}

// nearestFit is the hint PostFilter gives. A node counts when the Pod's own constraints allow it
// (it passed every check before the capacity ones) and it has enough GPUs in all.
func nearestFit(pod *v1.Pod, d gpu.Demand, view *gpu.View, nodes []fwk.NodeInfo, statuses fwk.NodeToStatusReader) string {
	reqs := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	milliCPU, memory := reqs.Cpu().MilliValue(), reqs.Memory().Value()
	var (
		mostGPUs   int64 // the most GPUs any node has
		candidates int   // nodes that count
		best       fwk.NodeInfo
		bestFree   int64 = -1 // free GPUs (whole) or thousandths of one GPU (shares) on best
		// Candidates with the GPUs free but not the CPU (memory), and of those, how many have less
		// CPU (memory) allocatable than the Pod asks.
		noCPU, noCPUEver, noMemory, noMemoryEver int
	)
	for _, ni := range nodes {
		state := view.Of(ni)
		mostGPUs = max(mostGPUs, state.Allocatable)
		if st := statuses.Get(ni.Node().Name); !st.IsSuccess() && !capacityFilters.Has(st.Plugin()) {
			continue
		}
		if state.Allocatable == 0 || state.Allocatable < d.Whole || (d.Share > 0 && state.DRA) {
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
		if !state.Fits(d) {
			continue
		}
		alloc, used := ni.GetAllocatable(), ni.GetRequested()
		if milliCPU > alloc.GetMilliCPU()-used.GetMilliCPU() {
			noCPU++
			if milliCPU > alloc.GetMilliCPU() {
				noCPUEver++
			}
		}
		if memory > alloc.GetMemory()-used.GetMemory() {
			noMemory++
			if memory > alloc.GetMemory() {
				noMemoryEver++
			}
		}
	}
	asks := askedGPUs(d)
	switch {
	// What no wait can change first.
	case mostGPUs == 0:
		return "no node has GPUs: waiting will not help"
	case mostGPUs < d.Whole:
		return fmt.Sprintf("no node has %s in total (the most is %d): waiting will not help", gpus(d.Whole), mostGPUs)
	case candidates == 0:
		return fmt.Sprintf("no node that the pod's own constraints allow (node name, selector and affinity, taints, ports, GPU model, interconnect) has %s in total: waiting will not help", asks)
	case noCPU > 0 && noCPU >= noMemory:
		return shortOf(noCPU, noCPUEver, asks, resource.NewMilliQuantity(milliCPU, resource.DecimalSI).String(), "CPU")
	case noMemory > 0:
		return shortOf(noMemory, noMemoryEver, asks, resource.NewQuantity(memory, resource.BinarySI).String(), "memory")
	case bestFree == 0:
		return fmt.Sprintf("none of the %d node(s) the pod could use has a GPU free; the pod asks %s", candidates, asks)
	case d.Share > 0:
		return fmt.Sprintf("largest free share: %s on %s; the pod asks %s", shareText(bestFree), describe(best, view), asks)
	}
	return fmt.Sprintf("largest free: %s on %s; the pod asks %d", gpus(bestFree), describe(best, view), d.Whole)
}

// shortOf says that n nodes have the GPUs free but not amount of what (CPU or memory); when none of
// them has that much in all (ever of the n), waiting will not help.
func shortOf(n, ever int, asks, amount, what string) string {
	if ever == n {
		return fmt.Sprintf("%d node(s) have %s free but not %s %s in all: waiting will not help", n, asks, amount, what)
	}
	return fmt.Sprintf("%d node(s) have %s free but not %s free %s", n, asks, amount, what)
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
	return gpus(d.Whole)
}

// gpus counts GPUs in words: "1 GPU", "8 GPUs".
func gpus(n int64) string {
	if n == 1 {
		return "1 GPU"
	}
	return fmt.Sprintf("%d GPUs", n)
}

// describe names a node with its GPU model and interconnects, and says when its GPUs are DRA
// devices: "gpu-h100-3 (NVIDIA-H100-80GB-HBM3, infiniband)", "gpu-b200-1 (NVIDIA-B200, DRA)".
func describe(ni fwk.NodeInfo, view *gpu.View) string {
	node := ni.Node()
	var what []string
	if model, _ := view.Model(ni, gpu.DefaultModelLabel); model != "" {
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
	if view.Of(ni).DRA {
		what = append(what, "DRA")
	}
	if len(what) == 0 {
		return node.Name
	}
	return node.Name + " (" + strings.Join(what, ", ") + ")"
}
