// Package interconnect places Pods by the network: the premium interconnects (InfiniBand, RoCE,
// NVLink, ...) node labels reveal, and the topology domains (NVLink domain, InfiniBand leaf and
// fabric, rack, zone) that keep a gang's members close. A required interconnect or topology level
// filters, a preferred one scores, and Pods that need no premium interconnect prefer nodes without
// one, so those stay free for the jobs that need them. One score covers single Pods and gangs.
package interconnect

import (
	"context"
	"fmt"
	"math/bits"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	schedutil "k8s.io/kubernetes/pkg/scheduler/util"
	"sigs.k8s.io/scheduler-plugins/apis/scheduling/v1alpha1"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config/validation"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/pluginutil"
)

var (
	_ fwk.PreFilterPlugin   = &Interconnect{}
	_ fwk.FilterPlugin      = &Interconnect{}
	_ fwk.PreScorePlugin    = &Interconnect{}
	_ fwk.ScorePlugin       = &Interconnect{}
	_ fwk.EnqueueExtensions = &Interconnect{}
	_ fwk.SignPlugin        = &Interconnect{}
)

const (
	// Name is the plugin name used in the scheduler configuration.
	Name = "Interconnect"

	preFilterStateKey fwk.StateKey = "PreFilter" + Name
	preScoreStateKey  fwk.StateKey = "PreScore" + Name

	// ReasonMissingInterconnect is Filter's reason for a node lacking a required interconnect, the
	// format of the one New builds for each interconnect from its name.
	ReasonMissingInterconnect = "node(s) lack the required interconnect %s"
	// ReasonNoGangDomain is PreFilter's reason for a gang that no domain of its required level can
	// hold: the format of the level, the gang, the members still to place and each one's demand.
	ReasonNoGangDomain = "no %s domain has room for the whole gang %s (%d more pods of %s)"
	// HintRoomiestDomain follows ReasonNoGangDomain: how near the roomiest domain of that level
	// comes (the level, the domain, the members it has room for, the members still to place).
	HintRoomiestDomain = "largest %s domain %s has room for %d of %d members"
)

// set is a bit set over the configured interconnects, in configuration order.
type set uint64

// Interconnect is a Filter and Score plugin on node interconnects.
type Interconnect struct {
	types []config.InterconnectType
	// byName maps an interconnect name to its bit.
	byName map[string]set
	// missingReasons[i] is the constant reason for lacking interconnect i.
	missingReasons []string
	// sets caches each node's interconnect set.
	sets gpu.NodeCache[set]
	// levels are the topology levels, innermost first.
	levels []config.TopologyLevel
	// sizer tells gang sizes; nil when PodGroups cannot be read.
	sizer pluginutil.GangSizer
	// census knows whether the whole network is uniform; nil without a node informer.
	census *census
	// handle and states give the cycle's view of the nodes' GPUs (gpu.View) to gang plans.
	handle fwk.Handle
	states *gpu.NodeStates
}

// New builds the plugin from InterconnectArgs; gang sizes come from the API's PodGroups.
func New(ctx context.Context, obj runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
	pl, err := buildPlugin(obj)
	if err != nil {
		return nil, err
	}
	pl.sizer = pluginutil.NewPodGroupSizer(ctx, h)
	pl.handle, pl.states = h, gpu.NodeStatesFor(ctx, h)
	pl.watchNodes(h)
	return pl, nil
}

// NewWithGangSizer is New with gang sizes from sizer instead of the API (the simulator's gangs).
func NewWithGangSizer(sizer pluginutil.GangSizer) frameworkruntime.PluginFactory {
	return func(ctx context.Context, obj runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
		pl, err := buildPlugin(obj)
		if err != nil {
			return nil, err
		}
		pl.sizer = sizer
		pl.handle, pl.states = h, gpu.NodeStatesFor(ctx, h)
		return pl, nil
	}
}

func buildPlugin(obj runtime.Object) (*Interconnect, error) {
	args, err := pluginutil.DecodeArgs[*config.InterconnectArgs](Name, obj)
	if err != nil {
		return nil, err
	}
	if err := validation.ValidateInterconnectArgs(field.NewPath("pluginConfig", Name, "args"), args); err != nil {
		return nil, err
	}
	pl := &Interconnect{types: args.Interconnects, byName: make(map[string]set, len(args.Interconnects)), levels: args.TopologyLevels}
	for i, ic := range args.Interconnects {
		pl.byName[ic.Name] = 1 << i
		pl.missingReasons = append(pl.missingReasons, fmt.Sprintf(ReasonMissingInterconnect, ic.Name))
	}
	return pl, nil
}

// Name returns the plugin name.
func (*Interconnect) Name() string { return Name }

// podWants is what a Pod asks of interconnects, parsed once per scheduling cycle.
type podWants struct {
	required, preferred set
}

// podState is what PreFilter and PreScore learn of a Pod: its interconnects and, for a gang member,
// its gang's plan.
type podState struct {
	wants *podWants
	gang  *gangPlan
}

// Clone shares the state: it is never modified after it is written.
func (s *podState) Clone() fwk.StateData { return s }

// PreFilter parses the Pod's interconnects and plans its gang: the first member goes only to the
// smallest domain with room for the whole gang, later ones to the domain their gang occupies. Pods
// that require no interconnect and are in no gang skip Filter. An unknown or malformed name makes
// the Pod unschedulable with the parse error.
func (pl *Interconnect) PreFilter(ctx context.Context, cycleState fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) (*fwk.PreFilterResult, *fwk.Status) {
	pl.sets.Retain(nodes)
	wants, err := pl.parse(pod)
	if err != nil {
		return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable, err.Error())
	}
	plan, status := pl.planGang(ctx, cycleState, pod, nodes)
	if status != nil {
		return nil, status
	}
	if wants.required == 0 && plan == nil {
		return nil, fwk.NewStatus(fwk.Skip)
	}
	cycleState.Write(preFilterStateKey, &podState{wants: wants, gang: plan})
	if plan != nil && plan.restrict != nil {
		return &fwk.PreFilterResult{NodeNames: plan.restrict}, nil
	}
	return nil, nil
}

// SignPod signs the Pod's required and preferred interconnects. A gang member is not signed: where it
// may go depends on its gang's plan, which moves with every member placed.
func (pl *Interconnect) SignPod(_ context.Context, pod *v1.Pod) ([]fwk.SignFragment, *fwk.Status) {
	if pl.inGang(pod) {
		return nil, fwk.NewStatus(fwk.Unschedulable, "a gang member is placed by its gang's plan")
	}
	return []fwk.SignFragment{
		gpu.SignAnnotation(pod, gpu.InterconnectAnnotation),
		gpu.SignAnnotation(pod, gpu.PreferredInterconnectAnnotation),
	}, nil
}

// PreFilterExtensions returns nil: the state does not depend on other Pods.
func (*Interconnect) PreFilterExtensions() fwk.PreFilterExtensions { return nil }

// Filter rejects a node lacking a required interconnect, naming the first one missing.
func (pl *Interconnect) Filter(_ context.Context, cycleState fwk.CycleState, _ *v1.Pod, nodeInfo fwk.NodeInfo) *fwk.Status {
	s, err := pluginutil.ReadState[*podState](cycleState, preFilterStateKey)
	if err != nil {
		return fwk.AsStatus(err)
	}
	if missing := s.wants.required &^ pl.nodeInfoSet(nodeInfo); missing != 0 {
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, pl.missingReasons[bits.TrailingZeros64(uint64(missing))])
	}
	return nil
}

// PreScore parses what the Pod asks for, for Score. When every node offers the same interconnects
// the scores would all be equal: it skips Score, which most clusters (one kind of network) then never
// pay for. The node informer's census tells a uniform cluster at once; otherwise the feasible
// nodes are looked at.
func (pl *Interconnect) PreScore(_ context.Context, cycleState fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) *fwk.Status {
	wants, err := pl.parse(pod)
	if err != nil {
		return fwk.AsStatus(err)
	}
	var gang *gangPlan
	if s, err := pluginutil.ReadState[*podState](cycleState, preFilterStateKey); err == nil {
		gang = s.gang
	}
	if gang == nil && pl.census.knownUniform() {
		return fwk.NewStatus(fwk.Skip)
	}
	if gang == nil && len(nodes) > 0 {
		first, same := pl.nodeInfoSet(nodes[0]), true
		for _, ni := range nodes[1:] {
			if pl.nodeInfoSet(ni) != first {
				same = false
				break
			}
		}
		if same {
			return fwk.NewStatus(fwk.Skip)
		}
	}
	cycleState.Write(preScoreStateKey, &podState{wants: wants, gang: gang})
	return nil
}

// Score ranks a node in tiers. For a gang member, locality comes first: three quarters of the score
// is how close the node is to the gang's domain. Then interconnects: each preferred interconnect the
// node has counts twice as much as each premium interconnect it has that the Pod does not want
// (which the Pod would waste).
func (pl *Interconnect) Score(_ context.Context, cycleState fwk.CycleState, _ *v1.Pod, nodeInfo fwk.NodeInfo) (int64, *fwk.Status) {
	s, err := pluginutil.ReadState[*podState](cycleState, preScoreStateKey)
	if err != nil {
		return 0, fwk.AsStatus(err)
	}
	ic := score(s.wants, pl.nodeInfoSet(nodeInfo), len(pl.types))
	if s.gang == nil {
		return ic, nil
	}
	return (3*pl.locality(s.gang, nodeInfo.Node()) + ic) / 4, nil
}

func score(w *podWants, node set, known int) int64 {
	preferred := bits.OnesCount64(uint64(w.preferred))
	hits := bits.OnesCount64(uint64(w.preferred & node))
	unwanted := bits.OnesCount64(uint64(node &^ (w.required | w.preferred)))
	best := 2*preferred + known
	if best == 0 {
		return fwk.MaxNodeScore
	}
	return fwk.MaxNodeScore * int64(2*hits+known-unwanted) / int64(best)
}

// ScoreExtensions returns nil: scores are already in [0, MaxNodeScore].
func (*Interconnect) ScoreExtensions() fwk.ScoreExtensions { return nil }

// EventsToRegister: a new or relabelled node may bring the required interconnect.
// A gang rejected for lack of room in its domain also waits for room: an assigned Pod going away,
// or a node joining or moving between domains.
func (pl *Interconnect) EventsToRegister(_ context.Context) ([]fwk.ClusterEventWithHint, error) {
	return []fwk.ClusterEventWithHint{
		{Event: fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeLabel}, QueueingHintFn: pl.isSchedulableAfterNodeChange},
		{Event: fwk.ClusterEvent{Resource: fwk.Pod, ActionType: fwk.Delete | fwk.UpdatePodScaleDown}, QueueingHintFn: pl.isSchedulableAfterPodChange},
	}, nil
}

// inGang reports whether the Pod belongs to a gang this plugin plans.
func (pl *Interconnect) inGang(pod *v1.Pod) bool {
	_, ok := pod.Labels[v1alpha1.PodGroupLabel]
	return ok && len(pl.levels) > 0
}

func (pl *Interconnect) isSchedulableAfterPodChange(logger klog.Logger, pod *v1.Pod, oldObj, _ interface{}) (fwk.QueueingHint, error) {
	oldPod, _, err := schedutil.As[*v1.Pod](oldObj, nil)
	if err != nil {
		return fwk.Queue, err
	}
	if !pl.inGang(pod) || oldPod == nil || oldPod.Spec.NodeName == "" {
		return fwk.QueueSkip, nil
	}
	logger.V(5).Info("an assigned pod released room a gang may fit in", "pod", klog.KObj(pod), "releasingPod", klog.KObj(oldPod))
	return fwk.Queue, nil
}

func (pl *Interconnect) isSchedulableAfterNodeChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (fwk.QueueingHint, error) {
	oldNode, newNode, err := schedutil.As[*v1.Node](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	if pl.inGang(pod) {
		logger.V(5).Info("a node joined or changed domain; a gang may fit now", "pod", klog.KObj(pod), "node", klog.KObj(newNode))
		return fwk.Queue, nil
	}
	wants, err := pl.parse(pod)
	if err != nil || wants.required == 0 {
		return fwk.QueueSkip, nil
	}
	if wants.required&^pl.nodeSet(newNode) != 0 {
		return fwk.QueueSkip, nil
	}
	if oldNode != nil && wants.required&^pl.nodeSet(oldNode) == 0 {
		return fwk.QueueSkip, nil
	}
	logger.V(5).Info("a node now has the required interconnects", "pod", klog.KObj(pod), "node", klog.KObj(newNode))
	return fwk.Queue, nil
}

// nodeInfoSet is nodeSet cached per node and NodeInfo generation (labels change only with a new
// generation). Allocates only on a miss.
func (pl *Interconnect) nodeInfoSet(nodeInfo fwk.NodeInfo) set {
	if s, ok := pl.sets.Lookup(nodeInfo); ok {
		return s
	}
	s := pl.nodeSet(nodeInfo.Node())
	pl.sets.Set(nodeInfo, s)
	return s
}

// nodeSet reads which interconnects the node's labels reveal, without allocating.
func (pl *Interconnect) nodeSet(node *v1.Node) set {
	var s set
	for i := range pl.types {
		for _, l := range pl.types[i].NodeLabels {
			if v, ok := node.Labels[l.Key]; ok && (l.Value == "" || v == l.Value) {
				s |= 1 << i
				break
			}
		}
	}
	return s
}

func (pl *Interconnect) parse(pod *v1.Pod) (*podWants, error) {
	required, err := pl.parseAnnotation(pod, gpu.InterconnectAnnotation)
	if err != nil {
		return nil, err
	}
	preferred, err := pl.parseAnnotation(pod, gpu.PreferredInterconnectAnnotation)
	if err != nil {
		return nil, err
	}
	return &podWants{required: required, preferred: preferred &^ required}, nil
}

func (pl *Interconnect) parseAnnotation(pod *v1.Pod, annotation string) (set, error) {
	value, ok := pod.Annotations[annotation]
	if !ok {
		return 0, nil
	}
	names, err := gpu.ParseList(annotation, value)
	if err != nil {
		return 0, err
	}
	var s set
	for _, n := range names {
		bit, known := pl.byName[n]
		if !known {
			return 0, fmt.Errorf("annotation %s: unknown interconnect %s (known: %s)", annotation, gpu.Echo(n), strings.Join(pl.knownNames(), ", "))
		}
		s |= bit
	}
	return s, nil
}

func (pl *Interconnect) knownNames() []string {
	names := make([]string, 0, len(pl.byName))
	for n := range pl.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
