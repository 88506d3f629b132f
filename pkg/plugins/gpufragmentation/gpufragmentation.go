// Package gpufragmentation scores a placement by how much it raises the node's expected GPU
// fragmentation under the workload (FGD, Weng et al., USENIX ATC'23): the free GPU capacity that
// the workload's Pod shapes, weighted by frequency, could not use there. CPU, memory and GPU model
// count in whether a shape fits, so the score also sees GPUs stranded by CPU-only Pods.
package gpufragmentation

import (
	"context"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config/validation"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/pluginutil"
)

var (
	_ fwk.PreFilterPlugin = &GPUFragmentation{}
	_ fwk.PreScorePlugin  = &GPUFragmentation{}
	_ fwk.ScorePlugin     = &GPUFragmentation{}
	_ fwk.SignPlugin      = &GPUFragmentation{}
)

const (
	// Name is the plugin name used in the scheduler configuration.
	Name = "GPUFragmentation"

	preScoreStateKey fwk.StateKey = "PreScore" + Name

	// scoreScale keeps a thousandth of a GPU-milli of fragmentation distinguishable in integer scores.
	scoreScale = 1000
)

// GPUFragmentation is a Score plugin minimising the fragmentation a placement adds.
type GPUFragmentation struct {
	handle     fwk.Handle
	modelLabel string
	// strandedWeight is StrandedPercent as a fraction (gpu.Workload.WithStrandedWeight).
	strandedWeight float64
	// scarcityWeight is ScarcityPercent as a fraction: how much of gpu.Scarcity's price Score adds.
	scarcityWeight float64
	// static is the configured workload; nil when it is learned.
	static *gpu.Workload

	mu      sync.Mutex
	learned *window
	// cached is the learned workload as of cachedVersion of the window.
	cached        *gpu.Workload
	cachedVersion uint64

	states *gpu.NodeStates
}

// New builds the plugin from GPUFragmentationArgs. In the scheduler it also keeps the GPU gauges
// (metrics.go) up to date until ctx ends.
func New(ctx context.Context, obj runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
	args, err := pluginutil.DecodeArgs[*config.GPUFragmentationArgs](Name, obj)
	if err != nil {
		return nil, err
	}
	if err := validation.ValidateGPUFragmentationArgs(field.NewPath("pluginConfig", Name, "args"), args); err != nil {
		return nil, err
	}
	pl := &GPUFragmentation{handle: h, modelLabel: args.ModelLabel, strandedWeight: float64(args.StrandedPercent) / 100,
		scarcityWeight: float64(args.ScarcityPercent) / 100, learned: newWindow(int(args.WindowSize)), states: gpu.NodeStatesFor(ctx, h)}
	if len(args.Workload) > 0 {
		shapes, err := shapesOf(args.Workload)
		if err != nil {
			return nil, err
		}
		pl.static = gpu.NewWorkload(shapes).WithStrandedWeight(pl.strandedWeight)
	}
	pl.startReporting(ctx, h)
	return pl, nil
}

func shapesOf(workload []config.WorkloadShape) ([]gpu.Shape, error) {
	shapes := make([]gpu.Shape, 0, len(workload))
	for _, w := range workload {
		s := gpu.Shape{MilliCPU: w.CPU.MilliValue(), Memory: w.Memory.Value(), GPUs: w.GPUs, GPUMilli: gpu.MilliPerGPU, Weight: float64(w.Weight)}
		if w.GPUFraction != "" {
			share, err := gpu.ParseFraction(w.GPUFraction)
			if err != nil {
				return nil, err // validated already; kept for safety of direct callers
			}
			s.GPUs, s.GPUMilli = 1, share
		}
		s.Models = append(s.Models, w.Models...)
		shapes = append(shapes, s)
	}
	return shapes, nil
}

// Name returns the plugin name.
func (*GPUFragmentation) Name() string { return Name }

// PreFilter learns the workload: every Pod that arrives joins the window once. It filters nothing;
// it drops deleted nodes' cached states.
func (pl *GPUFragmentation) PreFilter(ctx context.Context, cycleState fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) (*fwk.PreFilterResult, *fwk.Status) {
	pl.states.Retain(nodes)
	if pl.static == nil {
		if shape, _, err := pl.states.ViewOrDevicePlugin(ctx, cycleState, pl.handle).ShapeOf(pod); err == nil {
			pl.mu.Lock()
			pl.learned.add(pod.UID, shape)
			pl.mu.Unlock()
		}
	}
	return nil, fwk.NewStatus(fwk.Skip)
}

// SignPod signs the Pod's shape: GPU demand, CPU and memory requests and accepted models. The
// learned workload belongs to the cluster, like the nodes' state, and PreFilter learns from a batched
// Pod too. Shares are not signed: Score picks the GPU that holds a share.
func (*GPUFragmentation) SignPod(_ context.Context, pod *v1.Pod) ([]fwk.SignFragment, *fwk.Status) {
	_, demand, status := gpu.SignDemand(pod, true)
	if status != nil {
		return nil, status
	}
	return []fwk.SignFragment{demand, gpu.SignRequests(pod), gpu.SignAnnotation(pod, gpu.ModelAnnotation)}, nil
}

// PreFilterExtensions returns nil: nothing to update when other Pods are added or removed.
func (*GPUFragmentation) PreFilterExtensions() fwk.PreFilterExtensions { return nil }

type preScoreState struct {
	view     *gpu.View
	workload *gpu.Workload
	pod      gpu.Shape
	demand   gpu.Demand
	// scarcity prices GPU models for the workload's model-constrained shapes; nil without any, or
	// when scarcityPercent is 0.
	scarcity *gpu.Scarcity
}

// Clone shares the state: it is never modified after PreScore.
func (s *preScoreState) Clone() fwk.StateData { return s }

// PreScore fixes the workload for this cycle, reads the Pod's shape and, when some shapes are
// limited to GPU models, prices the models from the cluster's free capacity.
func (pl *GPUFragmentation) PreScore(ctx context.Context, cycleState fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) *fwk.Status {
	view := pl.states.ViewOrDevicePlugin(ctx, cycleState, pl.handle)
	shape, demand, err := view.ShapeOf(pod)
	if err != nil {
		return fwk.AsStatus(err)
	}
	w := pl.workload()
	if w.Empty() {
		return fwk.NewStatus(fwk.Skip) // nothing learned yet: every node would score the same
	}
	state := &preScoreState{view: view, workload: w, pod: shape, demand: demand}
	if w.NeedsModel() && pl.scarcityWeight > 0 {
		state.scarcity = w.Scarcity(pl.allNodes(nodes), view, pl.modelLabel)
	}
	cycleState.Write(preScoreStateKey, state)
	if demand.Share > 0 {
		cycleState.Write(gpu.GPUChooserKey, &shareChooser{pl: pl, s: state})
	}
	return nil
}

// allNodes is every node of the scheduler's snapshot; nodes (the feasible ones) without a handle.
func (pl *GPUFragmentation) allNodes(nodes []fwk.NodeInfo) []fwk.NodeInfo {
	if pl.handle == nil {
		return nodes
	}
	all, err := pl.handle.SnapshotSharedLister().NodeInfos().List()
	if err != nil {
		return nodes
	}
	return all
}

// shareChooser tells Reserve which GPU Score assumed for the share: the same computation on the
// same node, once.
type shareChooser struct {
	pl *GPUFragmentation
	s  *preScoreState
}

// Clone shares the chooser: it holds only immutable state.
func (c *shareChooser) Clone() fwk.StateData { return c }

// ChooseGPU implements gpu.GPUChooser.
func (c *shareChooser) ChooseGPU(nodeInfo fwk.NodeInfo) (int, bool) {
	node := c.s.view.Of(nodeInfo)
	after := c.s.workload.RoomOf(nodeInfo, node, c.s.view, c.pl.modelLabel).Less(c.s.pod.MilliCPU, c.s.pod.Memory, true)
	idx, _ := c.pl.bestGPU(c.s, node, after)
	return idx, idx >= 0
}

func (pl *GPUFragmentation) workload() *gpu.Workload {
	if pl.static != nil {
		return pl.static
	}
	pl.mu.Lock()
	defer pl.mu.Unlock()
	// One arrival barely moves a large window's distribution: rebuild after each 5% of it, so the
	// per-node measurements cached against the workload stay valid between rebuilds.
	every := uint64(max(1, len(pl.learned.ring)/20))
	if pl.cached == nil || pl.learned.version-pl.cachedVersion >= every {
		pl.cached, pl.cachedVersion = pl.learned.workload().WithStrandedWeight(pl.strandedWeight), pl.learned.version
	}
	return pl.cached
}

// measure returns the node's GPU state, its Room and its fragmentation under w as it stands,
// computed once per state and workload (gpu.Workload.FragmentationOf).
func (pl *GPUFragmentation) measure(w *gpu.Workload, view *gpu.View, nodeInfo fwk.NodeInfo) (*gpu.NodeState, gpu.Room, float64) {
	state := view.Of(nodeInfo)
	room := w.RoomOf(nodeInfo, state, view, pl.modelLabel)
	return state, room, w.FragmentationOf(state, room)
}

// Score is the fragmentation the placement adds to the node (negative when it removes some, e.g. by
// filling a slice nothing else could use), plus what taking the node's GPU model costs the shapes
// limited to it (gpu.Scarcity); NormalizeScore turns less into better.
func (pl *GPUFragmentation) Score(_ context.Context, cycleState fwk.CycleState, _ *v1.Pod, nodeInfo fwk.NodeInfo) (int64, *fwk.Status) {
	s, err := pluginutil.ReadState[*preScoreState](cycleState, preScoreStateKey)
	if err != nil {
		return 0, fwk.AsStatus(err)
	}
	if s.workload.Empty() {
		return 0, nil
	}
	node, room, before := pl.measure(s.workload, s.view, nodeInfo)
	room = room.Less(s.pod.MilliCPU, s.pod.Memory, !s.demand.None())
	var after float64
	switch {
	case s.demand.Share > 0:
		_, after = pl.bestGPU(s, node, room)
	case node.Fits(s.demand):
		var buf [gpu.MaxGPUsPerNode]int64
		after = s.workload.Fragmentation(room, node.FreeSlicesAfter(s.demand, -1, buf[:0]))
	default:
		var buf [gpu.MaxGPUsPerNode]int64
		after = s.workload.Fragmentation(room, node.FreeSlices(buf[:0]))
	}
	added := after - before + pl.scarcityWeight*s.scarcity.Cost(room.Model, s.demand.Milli())
	return int64(added * scoreScale), nil
}

// bestGPU finds the GPU where the share adds the least fragmentation (FGD's GPU-level choice; on a
// tie, the tightest fit), and the node's fragmentation after; -1 and the fragmentation as it is
// when no GPU has room. after is the node's Room once the Pod's CPU and memory are taken.
func (pl *GPUFragmentation) bestGPU(s *preScoreState, node *gpu.NodeState, after gpu.Room) (int, float64) {
	var cbuf [gpu.MaxGPUsPerNode]int
	var buf [gpu.MaxGPUsPerNode]int64
	best, bestFrag, bestFree := -1, 0.0, int64(0)
	for _, idx := range node.ShareCandidates(s.demand.Share, cbuf[:0]) {
		frag := s.workload.Fragmentation(after, node.FreeSlicesAfter(s.demand, idx, buf[:0]))
		free := gpu.MilliPerGPU - node.Shared[idx] - s.demand.Share
		if best < 0 || frag < bestFrag || (frag == bestFrag && free < bestFree) {
			best, bestFrag, bestFree = idx, frag, free
		}
	}
	if best < 0 {
		return -1, s.workload.Fragmentation(after, node.FreeSlices(buf[:0]))
	}
	return best, bestFrag
}

// ScoreExtensions returns the plugin itself for NormalizeScore.
func (pl *GPUFragmentation) ScoreExtensions() fwk.ScoreExtensions { return pl }

// NormalizeScore maps the least added fragmentation to MaxNodeScore and the most to 0.
func (*GPUFragmentation) NormalizeScore(_ context.Context, _ fwk.CycleState, _ *v1.Pod, scores fwk.NodeScoreList) *fwk.Status {
	pluginutil.InvertMinMax(scores)
	return nil
}
