package interconnect

import (
	"context"
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	resourcehelper "k8s.io/component-helpers/resource"
	fwk "k8s.io/kube-scheduler/framework"
	"sigs.k8s.io/scheduler-plugins/apis/scheduling/v1alpha1"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/pluginutil"
)

// gangPlan is where a gang member may go and which domains its gang occupies, derived afresh at
// every member from the members already placed (so it survives restarts).
type gangPlan struct {
	// restrict is the nodes the member may go to; nil for any.
	restrict sets.Set[string]
	// anchor[i] is the gang's domain at topology level i ("" for none): scoring prefers nodes sharing
	// the innermost one.
	anchor []string
}

// member is one gang member's demand, for counting how many fit a node.
type member struct {
	gpus             gpu.Demand
	milliCPU, memory int64
}

// planGang plans the Pod's gang: nil for a Pod in no gang. A required level no domain can satisfy
// makes the Pod unschedulable with a reason naming the level and the gang's size.
//
// That rejection is UnschedulableAndUnresolvable: preemption cannot make room for a gang. Its dry
// runs re-run Filter with this plugin's PreFilter state, which a rejected PreFilter never wrote,
// and PreFilterExtensions is nil, so evicting Pods is never simulated against the plan (and one
// eviction would not place a gang anyway). The gang still gets its room when it comes: EventsToRegister
// requeues it when an assigned Pod leaves or a node joins or changes domain.
func (pl *Interconnect) planGang(ctx context.Context, cycleState fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) (*gangPlan, *fwk.Status) {
	group, ok := pod.Labels[v1alpha1.PodGroupLabel]
	if !ok || len(pl.levels) == 0 {
		return nil, nil
	}
	required, err := pl.levelIndex(pod, gpu.TopologyRequiredAnnotation)
	if err != nil {
		return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable, err.Error())
	}
	if _, err := pl.levelIndex(pod, gpu.TopologyPreferredAnnotation); err != nil {
		return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable, err.Error())
	}
	view, err := pl.states.View(ctx, cycleState, pl.handle)
	if err != nil {
		return nil, fwk.AsStatus(err)
	}
	m, err := memberOf(pod, view)
	if err != nil {
		return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable, err.Error())
	}
	placed, placedCount := pluginutil.PlacedMembers(pod, group, nodes)
	size := 1
	if pl.sizer != nil {
		if n, ok := pl.sizer.MinMember(pod.Namespace, group); ok && n > 0 {
			size = n
		}
	}
	remaining := max(size-placedCount, 1)
	plan := &gangPlan{anchor: make([]string, len(pl.levels))}
	for i := range pl.levels {
		plan.anchor[i] = commonDomain(placed, pl.levels[i].NodeLabel)
	}
	deepest := len(pl.levels) - 1
	if required >= 0 {
		deepest = required
	}
	if i, domain, ok := pl.smallestDomain(deepest, plan.anchor, len(placed) > 0, remaining, m, view, nodes); ok {
		plan.restrict, plan.anchor[i] = pl.domainNodes(i, domain, nodes), domain
		return plan, nil
	}
	if required < 0 {
		return plan, nil // preferred only: place anywhere, scoring keeps members close
	}
	if anchor := plan.anchor[required]; anchor != "" {
		// Members already share a required domain: the rest must join them, fitting or not.
		plan.restrict = pl.domainNodes(required, anchor, nodes)
		return plan, nil
	}
	reasons := []string{fmt.Sprintf(ReasonNoGangDomain, pl.levels[required].Name, group, remaining, m)}
	if domain, room := pl.roomiestDomain(required, m, view, nodes); domain != "" {
		reasons = append(reasons, fmt.Sprintf(HintRoomiestDomain, pl.levels[required].Name, domain, room, remaining))
	}
	return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable, reasons...)
}

// roomiestDomain is the domain at level i with room for the most members (the first by name among
// equals), and that room; "" when no node has the level's label.
func (pl *Interconnect) roomiestDomain(i int, m member, view *gpu.View, nodes []fwk.NodeInfo) (string, int) {
	room := map[string]int{}
	for _, ni := range nodes {
		if d, ok := ni.Node().Labels[pl.levels[i].NodeLabel]; ok {
			room[d] += fitCount(ni, m, view)
		}
	}
	best, bestRoom := "", -1
	for d, r := range room {
		if r > bestRoom || (r == bestRoom && d < best) {
			best, bestRoom = d, r
		}
	}
	return best, max(bestRoom, 0)
}

func (m member) String() string {
	switch {
	case m.gpus.Whole > 0:
		return fmt.Sprintf("%d GPUs", m.gpus.Whole)
	case m.gpus.Share > 0:
		return fmt.Sprintf("%s GPU", gpu.FormatFraction(m.gpus.Share))
	}
	return "no GPU"
}

func memberOf(pod *v1.Pod, view *gpu.View) (member, error) {
	d, err := view.Demand(pod)
	if err != nil {
		return member{}, err
	}
	reqs := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	return member{gpus: d, milliCPU: reqs.Cpu().MilliValue(), memory: reqs.Memory().Value()}, nil
}

// levelIndex reads a topology annotation: -1 when absent, an error for an unknown level.
func (pl *Interconnect) levelIndex(pod *v1.Pod, annotation string) (int, error) {
	v, ok := pod.Annotations[annotation]
	if !ok {
		return -1, nil
	}
	name := strings.ToLower(strings.TrimSpace(v))
	for i, l := range pl.levels {
		if l.Name == name {
			return i, nil
		}
	}
	names := make([]string, len(pl.levels))
	for i, l := range pl.levels {
		names[i] = l.Name
	}
	return -1, fmt.Errorf("annotation %s: unknown topology level %s (known: %s)", annotation, gpu.Echo(v), strings.Join(names, ", "))
}

// commonDomain is the domain all nodes share under label, or "" if they do not (or there are none).
func commonDomain(nodes []*v1.Node, label string) string {
	if len(nodes) == 0 {
		return ""
	}
	d := nodes[0].Labels[label]
	for _, n := range nodes[1:] {
		if n.Labels[label] != d {
			return ""
		}
	}
	return d
}

// smallestDomain finds the innermost level, up to deepest, with a domain that has room for the
// remaining members, and there the domain with the least room (best fit, so big domains stay whole
// for big gangs). With members already placed, only their domain (anchor) at each level qualifies.
// Each node's room is counted once, however many levels are tried.
func (pl *Interconnect) smallestDomain(deepest int, anchor []string, anchored bool, remaining int, m member, view *gpu.View, nodes []fwk.NodeInfo) (int, string, bool) {
	fits := make([]int32, len(nodes)) // a node's fitCount + 1; 0 until counted
	for i := 0; i <= deepest; i++ {
		if anchored && anchor[i] == "" {
			continue
		}
		label := pl.levels[i].NodeLabel
		room := map[string]int{}
		for k, ni := range nodes {
			d, ok := ni.Node().Labels[label]
			if !ok || (anchored && d != anchor[i]) {
				continue
			}
			if fits[k] == 0 {
				fits[k] = int32(fitCount(ni, m, view)) + 1
			}
			room[d] += int(fits[k]) - 1
		}
		best, bestRoom := "", 0
		for d, r := range room {
			if r >= remaining && (best == "" || r < bestRoom || (r == bestRoom && d < best)) {
				best, bestRoom = d, r
			}
		}
		if best != "" {
			return i, best, true
		}
	}
	return 0, "", false
}

func (pl *Interconnect) domainNodes(i int, domain string, nodes []fwk.NodeInfo) sets.Set[string] {
	out := sets.New[string]()
	for _, ni := range nodes {
		if ni.Node().Labels[pl.levels[i].NodeLabel] == domain {
			out.Insert(ni.Node().Name)
		}
	}
	return out
}

// fitCount is how many gang members the node has room for, by GPUs, CPU and memory.
func fitCount(ni fwk.NodeInfo, m member, view *gpu.View) int {
	const many = 1 << 20
	n := int64(many)
	state := view.Of(ni)
	switch {
	case m.gpus.Whole > 0:
		n = state.FreeWhole() / m.gpus.Whole
	case m.gpus.Share > 0 && state.DRA:
		n = 0 // DRA devices are allocated whole
	case m.gpus.Share > 0:
		n = state.FreeMilli() / m.gpus.Share
	}
	alloc, used := ni.GetAllocatable(), ni.GetRequested()
	if m.milliCPU > 0 {
		n = min(n, (alloc.GetMilliCPU()-used.GetMilliCPU())/m.milliCPU)
	}
	if m.memory > 0 {
		n = min(n, (alloc.GetMemory()-used.GetMemory())/m.memory)
	}
	return int(max(n, 0))
}

// locality scores a node by the innermost domain it shares with the gang: MaxNodeScore inside the
// innermost level, less per level out, 0 sharing none.
func (pl *Interconnect) locality(plan *gangPlan, node *v1.Node) int64 {
	for i, l := range pl.levels {
		if plan.anchor[i] != "" && node.Labels[l.NodeLabel] == plan.anchor[i] {
			return fwk.MaxNodeScore * int64(len(pl.levels)-i) / int64(len(pl.levels))
		}
	}
	return 0
}
