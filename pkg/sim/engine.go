// Package sim runs kube-scheduler's framework on a simulated cluster, with the same registry, profile
// decoding and plugins as the gpu-scheduler binary, and no API server: what the daemon would decide,
// pod after pod, at a fraction of the cost.
package sim

import (
	"context"
	"fmt"
	"math/rand"
	"runtime"
	"sort"

	v1 "k8s.io/api/core/v1"
	apiruntime "k8s.io/apimachinery/pkg/runtime"
	feature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/informers"
	clientsetfake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	basemetrics "k8s.io/component-base/metrics"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/features"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	intree "k8s.io/kubernetes/pkg/scheduler/framework/plugins"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/noderesources"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	schedmetrics "k8s.io/kubernetes/pkg/scheduler/metrics"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim/trace"
)

// kube-scheduler's constants for how many feasible nodes to look for (schedule_one.go).
const (
	minFeasibleNodesToFind           = 100
	minFeasibleNodesPercentageToFind = 5

	// minFilterChunk is the fewest nodes findFeasible filters at once: enough to spread over the
	// cores when most nodes are full.
	minFilterChunk = 256

	// evaluationMetric is kube-scheduler's count of plugin calls, by plugin and extension point.
	evaluationMetric = "scheduler_plugin_evaluation_total"
)

// Simulator places Pods one at a time on a fixed set of nodes with one profile.
type Simulator struct {
	ctx     context.Context
	fw      framework.Framework
	cluster *cluster
	rng     *rand.Rand
	// rank, when set, orders nodes (by index) for breaking ties: Profile.OrderedTies.
	rank       []int
	percentage *int32
	// nextStart rotates where the search for feasible nodes begins, as kube-scheduler does.
	nextStart int
	// gangs are the sizes of the PodGroups ScheduleGang was given.
	gangs *gangSizes
	// chunk holds a chunk's Filter verdicts (findFeasible), reused from Pod to Pod.
	chunk    []verdict
	verdicts *verdicts
	memo     *filterMemo
	// dra keeps DRA allocations while their Pods run; nil when DRA is off.
	dra *draManager
	// states is the node-state cache the profile's plugins share (gpu.NodeStatesFor).
	states *gpu.NodeStates
}

// Placement is the outcome of scheduling one Pod.
type Placement struct {
	// Node is where the Pod was placed; empty when it could not be.
	Node string
	// Pod is the placed copy, as plugins annotated it in Reserve (e.g. the GPU holding a share).
	Pod *v1.Pod
	// Reasons counts, per failure reason, the nodes that rejected the Pod (or the Pod-level reason
	// with count 0 when PreFilter rejected it outright).
	Reasons map[string]int
}

// New builds a simulator for profile over the cluster's nodes, whose DRA nodes' GPUs are served from
// their ResourceSlices through the DeviceClass of NVIDIA's DRA driver. seed decides every tie
// between equally scored nodes.
func New(ctx context.Context, profile Profile, cl trace.Cluster, seed int64) (*Simulator, error) {
	nodes := cl.Nodes
	// The framework records plugin metrics into kube-scheduler's registry, which must exist. Nobody
	// reads the simulator's, and the per-call evaluation counter, shared by the Score goroutines,
	// bounces between the cores: it is off, as kube-scheduler's --disabled-metrics would set it.
	basemetrics.SetDisabledMetrics([]string{evaluationMetric})
	schedmetrics.Register()
	registry := intree.NewInTreeRegistry()
	ours := plugins.Registry()
	gangs := &gangSizes{sizes: map[string]int{}}
	simRegistry(ours, gangs)
	if err := registry.Merge(ours); err != nil {
		return nil, err
	}
	c := &cluster{byName: make(map[string]int, len(nodes))}
	for i, n := range nodes {
		if _, dup := c.byName[n.Name]; dup {
			return nil, fmt.Errorf("node %q appears twice", n.Name)
		}
		ni := framework.NewNodeInfo()
		ni.SetNode(n)
		c.nodes = append(c.nodes, ni)
		c.byName[n.Name] = i
	}
	// Plugins that watch the API (volumes, DRA) get one that holds the DRA nodes' ResourceSlices and
	// the DeviceClass that maps nvidia.com/gpu to their devices, and nothing else.
	var objects []apiruntime.Object
	if len(cl.Slices) > 0 {
		objects = append(objects, gpu.NVIDIAGPUClass())
		for _, slice := range cl.Slices {
			objects = append(objects, slice)
		}
	}
	client := clientsetfake.NewClientset(objects...)
	informerFactory := informers.NewSharedInformerFactory(client, 0)
	dra, draReady, err := newDRAManager(ctx, client, informerFactory)
	if err != nil {
		return nil, err
	}
	var draManager fwk.SharedDRAManager
	if dra != nil {
		draManager = dra
	}
	cfg := profile.Config
	fw, err := frameworkruntime.NewFramework(ctx, registry, &cfg,
		frameworkruntime.WithInformerFactory(informerFactory),
		frameworkruntime.WithSharedDRAManager(draManager),
		frameworkruntime.WithSnapshotSharedLister(c),
		// Scores are independent per node, so scoring in parallel changes no result.
		frameworkruntime.WithParallelism(runtime.GOMAXPROCS(0)),
		frameworkruntime.WithLogger(klog.FromContext(ctx)),
	)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", profile.Name, err)
	}
	informerFactory.Start(ctx.Done())
	informerFactory.WaitForCacheSync(ctx.Done())
	if draReady != nil && !cache.WaitForCacheSync(ctx.Done(), draReady) {
		return nil, fmt.Errorf("profile %s: DeviceClasses not read: %w", profile.Name, ctx.Err())
	}
	var filters []string
	for _, p := range fw.ListPlugins().Filter.Enabled {
		filters = append(filters, p.Name)
	}
	s := &Simulator{ctx: ctx, fw: fw, cluster: c, rng: rand.New(rand.NewSource(seed)), percentage: cfg.PercentageOfNodesToScore,
		gangs: gangs, verdicts: newVerdicts(), memo: newFilterMemo(filters), dra: dra, states: gpu.NodeStatesFor(ctx, fw)}
	if profile.OrderedTies {
		// A source of its own, so that the order leaves the seed's other draws as they were.
		s.rank = rand.New(rand.NewSource(seed)).Perm(len(nodes))
	}
	return s, nil
}

// Nodes returns the simulated cluster's node infos, in the order given to New.
func (s *Simulator) Nodes() []fwk.NodeInfo { return s.cluster.nodes }

// Schedule runs one scheduling cycle for pod, as kube-scheduler's schedulingCycle does (PreFilter,
// Filter over a rotating window of nodes, PreScore, Score, select, Reserve), and assumes the Pod on
// the chosen node. The Pod object is copied, not modified.
func (s *Simulator) Schedule(pod *v1.Pod) (Placement, error) {
	ctx := s.ctx
	state := framework.NewCycleState()
	preRes, status, _ := s.fw.RunPreFilterPlugins(ctx, state, pod)
	if status.Code() == fwk.Error {
		return Placement{}, status.AsError()
	}
	if !status.IsSuccess() {
		return Placement{Reasons: map[string]int{status.Message(): 0}}, nil
	}
	nodes := s.cluster.nodes
	var memo []memoEntry
	if preRes.AllNodes() {
		var err error
		if memo, err = s.memo.entries(state, pod, len(nodes)); err != nil {
			return Placement{}, err
		}
	} else {
		nodes = make([]fwk.NodeInfo, 0, len(preRes.NodeNames))
		for _, ni := range s.cluster.nodes {
			if preRes.NodeNames.Has(ni.Node().Name) {
				nodes = append(nodes, ni)
			}
		}
	}
	feasible, reasons, err := s.findFeasible(state, pod, nodes, memo)
	if err != nil {
		return Placement{}, err
	}
	if len(feasible) == 0 {
		return Placement{Reasons: reasons}, nil
	}
	chosen := feasible[0]
	if len(feasible) > 1 {
		if status := s.fw.RunPreScorePlugins(ctx, state, pod, feasible); !status.IsSuccess() {
			return Placement{}, status.AsError()
		}
		scores, status := s.fw.RunScorePlugins(ctx, state, pod, feasible)
		if !status.IsSuccess() {
			return Placement{}, status.AsError()
		}
		chosen = feasible[s.selectHost(scores)]
	}
	return s.assume(state, pod, chosen)
}

// assume reserves the Pod on the chosen node, as kube-scheduler does: Reserve gets the assumed copy
// (plugins may annotate it) and sees the node as it was before this Pod, like the scheduler's
// snapshot; then the copy joins the node.
func (s *Simulator) assume(state fwk.CycleState, pod *v1.Pod, chosen fwk.NodeInfo) (Placement, error) {
	nodeName := chosen.Node().Name
	assumed := pod.DeepCopy()
	assumed.Spec.NodeName = nodeName
	if status := s.fw.RunReservePluginsReserve(s.ctx, state, assumed, nodeName); !status.IsSuccess() {
		s.fw.RunReservePluginsUnreserve(s.ctx, state, assumed, nodeName)
		return Placement{Reasons: map[string]int{status.Message(): 1}}, nil
	}
	podInfo, err := framework.NewPodInfo(assumed)
	if err != nil {
		return Placement{}, err
	}
	chosen.AddPodInfo(podInfo)
	return Placement{Node: nodeName, Pod: assumed}, nil
}

// Keep puts a Pod that a node already holds back on that node, as the profile would account for it
// there: PreFilter, then Filter on that node alone (whatever PreFilter would have narrowed the
// nodes to, e.g. a gang plan made without the gang), then Reserve, which picks a share's GPU and
// allocates DRA devices. A Pod the profile's PreFilter or Filter turns away (an interconnect or
// topology level this profile does not know, AntiStranding's hold-back) is kept all the same when
// the node has room for it (its CPU, memory and Pod count as NodeResourcesFit counts them, its
// GPUs as the profile counts them): it is there, whatever this profile would have done; Reasons
// then say what the profile objected. A Pod the node has no room for is not placed.
func (s *Simulator) Keep(pod *v1.Pod, nodeName string) (Placement, error) {
	ni, err := s.cluster.Get(nodeName)
	if err != nil {
		return Placement{Reasons: map[string]int{fmt.Sprintf("node %s is not in the cluster", nodeName): 0}}, nil
	}
	state := framework.NewCycleState()
	_, status, _ := s.fw.RunPreFilterPlugins(s.ctx, state, pod)
	if status.IsSuccess() {
		status = s.fw.RunFilterPlugins(s.ctx, state, pod, ni)
	}
	if status.Code() == fwk.Error {
		return Placement{}, status.AsError()
	}
	if status.IsSuccess() {
		return s.assume(state, pod, ni)
	}
	objection := map[string]int{status.Message(): 1}
	if room, err := s.hasRoom(pod, ni); err != nil || !room {
		return Placement{Reasons: objection}, err
	}
	placed, err := s.assume(state, pod, ni)
	if placed.Node != "" {
		placed.Reasons = objection
	}
	return placed, err
}

// hasRoom reports whether the node has room for the Pod, whatever the profile's policy: CPU,
// memory, Pod count and device-plugin resources as NodeResourcesFit counts them, and the Pod's GPUs
// (whole, a share, or DRA devices) as the profile's plugins count them.
func (s *Simulator) hasRoom(pod *v1.Pod, ni fwk.NodeInfo) (bool, error) {
	opts := noderesources.ResourceRequestsOptions{
		EnablePodLevelResources:   feature.DefaultFeatureGate.Enabled(features.PodLevelResources),
		EnableDRAExtendedResource: feature.DefaultFeatureGate.Enabled(features.DRAExtendedResource),
	}
	if len(noderesources.Fits(pod, ni, s.fw.SharedDRAManager(), opts)) > 0 {
		return false, nil
	}
	view, err := s.GPUs()
	if err != nil {
		return false, err
	}
	demand, err := view.Demand(pod)
	if err != nil {
		return false, fmt.Errorf("pod %s: %w", pod.Name, err)
	}
	return demand.None() || view.Of(ni).Fits(demand), nil
}

// Remove takes a placed Pod off its node, as a deletion does, and gives back its DRA devices. The
// node forgets the copy it holds, found by UID, so pod may be the object given to Schedule.
func (s *Simulator) Remove(pod *v1.Pod, nodeName string) error {
	ni, err := s.cluster.Get(nodeName)
	if err != nil {
		return err
	}
	if err := ni.RemovePod(klog.FromContext(s.ctx), pod); err != nil {
		return err
	}
	s.dra.release(pod.UID)
	return nil
}

// GPUs reads the cluster's GPUs as the plugins count them (gpu.View): device-plugin GPUs, and DRA
// devices as allocated now.
func (s *Simulator) GPUs() (*gpu.View, error) {
	return s.states.View(s.ctx, nil, s.fw)
}

// FreeWhole appends to dst each node's GPUs not held whole, in the order of Nodes: device-plugin
// GPUs that no nvidia.com/gpu request holds (shares are not counted: not every profile accounts
// them), DRA devices not allocated.
func (s *Simulator) FreeWhole(dst []int64) ([]int64, error) {
	view, err := s.GPUs()
	if err != nil {
		return dst, err
	}
	for _, ni := range s.cluster.nodes {
		_, free := gpu.NodeGPUs(ni)
		if view.DRA() {
			if state := view.Of(ni); state.DRA {
				free = state.Allocatable - state.WholeUsed
			}
		}
		dst = append(dst, free)
	}
	return dst, nil
}

// findFeasible returns the first nodes, from the rotating start, that pass every Filter, as many as
// kube-scheduler looks for. Filters run in parallel, as kube-scheduler's do, over chunks of the
// rotation; the result is the sequential scan's all the same: the first feasible nodes in rotation
// order, and reasons only from the nodes before the last of them (kube-scheduler's parallel scan
// may find a different set when it stops early, which would make runs irreproducible). memo, when
// not nil, holds a verdict per node of nodes for this Pod's spec: one whose node has not changed
// since is used as it is, and every verdict found is recorded.
func (s *Simulator) findFeasible(state fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo, memo []memoEntry) ([]fwk.NodeInfo, map[string]int, error) {
	want := numFeasibleNodesToFind(s.percentage, len(nodes))
	var feasible []fwk.NodeInfo
	// Nodes rejected, per verdict: counting small integers here and reasons once at the end keeps
	// the sequential part of the scan from reading every node's status.
	var rejected []int
	processed := 0
	for processed < len(nodes) && len(feasible) < want {
		// As many nodes as are still wanted, and at least minFilterChunk, to keep the cores busy
		// when few nodes fit: at most minFilterChunk-1 nodes are filtered beyond the last needed.
		chunk := min(max(want-len(feasible), minFilterChunk), len(nodes)-processed)
		if cap(s.chunk) < chunk {
			s.chunk = make([]verdict, chunk)
		}
		verdicts, first := s.chunk[:chunk], s.nextStart+processed
		s.fw.Parallelizer().Until(s.ctx, chunk, func(i int) {
			n := (first + i) % len(nodes)
			g := nodes[n].GetGeneration()
			if memo != nil && memo[n].generation == g {
				verdicts[i] = memo[n].verdict
				return
			}
			status := s.fw.RunFilterPlugins(s.ctx, state, pod, nodes[n])
			verdicts[i] = s.verdicts.of(status)
			// An error says nothing about the node: it is not remembered as its verdict.
			if memo != nil && status.Code() != fwk.Error {
				memo[n] = memoEntry{generation: g, verdict: verdicts[i]}
			}
		}, "Filter")
		if err := s.ctx.Err(); err != nil {
			return nil, nil, err // Until skipped the rest of the chunk: its verdicts are stale
		}
		for i := 0; i < chunk && len(feasible) < want; i++ {
			processed++
			if v := verdicts[i]; v == feasibleVerdict {
				feasible = append(feasible, nodes[(first+i)%len(nodes)])
			} else {
				rejected = count(rejected, v)
			}
		}
	}
	if len(nodes) > 0 {
		s.nextStart = (s.nextStart + processed) % len(nodes)
	}
	reasons, err := s.verdicts.reasons(rejected)
	return feasible, reasons, err
}

// numFeasibleNodesToFind is kube-scheduler's rule: all nodes below 100, else a percentage (adaptive
// when unset: 50% less 1% per 125 nodes, at least 5%), but never fewer than 100.
func numFeasibleNodesToFind(percentage *int32, numAllNodes int) int {
	if numAllNodes < minFeasibleNodesToFind {
		return numAllNodes
	}
	p := int32(0)
	if percentage != nil {
		p = *percentage
	}
	if p == 0 {
		p = max(int32(50)-int32(numAllNodes)/125, minFeasibleNodesPercentageToFind)
	}
	return max(numAllNodes*int(p)/100, minFeasibleNodesToFind)
}

// selectHost picks the highest total score; among equals, each is equally likely (reservoir
// sampling, as kube-scheduler does), drawn from the simulator's seeded source, or the first in the
// run's node order when ties are ordered.
func (s *Simulator) selectHost(scores []fwk.NodePluginScores) int {
	best, count := 0, 1
	bestRank := -1 // best's rank when ties are ordered, once needed
	for i := 1; i < len(scores); i++ {
		switch {
		case scores[i].TotalScore > scores[best].TotalScore:
			best, count, bestRank = i, 1, -1
		case scores[i].TotalScore == scores[best].TotalScore && s.rank != nil:
			if bestRank < 0 {
				bestRank = s.rank[s.cluster.byName[scores[best].Name]]
			}
			if r := s.rank[s.cluster.byName[scores[i].Name]]; r < bestRank {
				best, bestRank = i, r
			}
		case scores[i].TotalScore == scores[best].TotalScore:
			count++
			if s.rng.Intn(count) == 0 {
				best = i
			}
		}
	}
	return best
}

// SortedReasons renders failure reasons as kube-scheduler's FailedScheduling message does.
func SortedReasons(reasons map[string]int) []string {
	out := make([]string, 0, len(reasons))
	for r, n := range reasons {
		if n == 0 {
			out = append(out, r)
			continue
		}
		out = append(out, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(out)
	return out
}
