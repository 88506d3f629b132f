// Package gpubinpacking scores nodes by how tightly a Pod's GPU request fits their free GPUs (best
// fit), so an idle 8-GPU node stays whole for an 8-GPU Pod and CPU-only Pods prefer nodes without GPUs.
package gpubinpacking

import (
	"context"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/pluginutil"
)

var (
	_ fwk.PreScorePlugin = &GPUBinPacking{}
	_ fwk.ScorePlugin    = &GPUBinPacking{}
	_ fwk.SignPlugin     = &GPUBinPacking{}
)

const (
	// Name is the plugin name used in the scheduler configuration.
	Name = "GPUBinPacking"

	preScoreStateKey fwk.StateKey = "PreScore" + Name
)

// GPUBinPacking is a Score plugin preferring the node left with the fewest free GPUs.
type GPUBinPacking struct {
	handle fwk.Handle
	states *gpu.NodeStates
}

// New builds the plugin; it takes no args (its weight is set in the profile). It shares the
// framework's node state cache until ctx ends.
func New(ctx context.Context, _ runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
	return &GPUBinPacking{handle: h, states: gpu.NodeStatesFor(ctx, h)}, nil
}

// Name returns the plugin name.
func (*GPUBinPacking) Name() string { return Name }

type preScoreState struct {
	demand gpu.Demand
	view   *gpu.View
}

// Clone shares the state: it is never modified after PreScore.
func (s *preScoreState) Clone() fwk.StateData { return s }

// SignPod signs the Pod's GPU demand, its only input.
func (*GPUBinPacking) SignPod(_ context.Context, pod *v1.Pod) ([]fwk.SignFragment, *fwk.Status) {
	_, demand, status := gpu.SignDemand(pod, false)
	if status != nil {
		return nil, status
	}
	return []fwk.SignFragment{demand}, nil
}

// PreScore reads the nodes' GPUs and the Pod's GPU demand (ResourceClaims included) once.
func (pl *GPUBinPacking) PreScore(ctx context.Context, cycleState fwk.CycleState, pod *v1.Pod, _ []fwk.NodeInfo) *fwk.Status {
	view := pl.states.ViewOrDevicePlugin(ctx, cycleState, pl.handle)
	demand, err := view.Demand(pod)
	if err != nil {
		return fwk.AsStatus(err)
	}
	cycleState.Write(preScoreStateKey, &preScoreState{demand: demand, view: view})
	return nil
}

// Score returns the free GPU thousandths the node would have left (a share goes where GPUFit's
// Reserve will put it); NormalizeScore turns fewer into better.
func (pl *GPUBinPacking) Score(_ context.Context, cycleState fwk.CycleState, _ *v1.Pod, nodeInfo fwk.NodeInfo) (int64, *fwk.Status) {
	s, err := pluginutil.ReadState[*preScoreState](cycleState, preScoreStateKey)
	if err != nil {
		return 0, fwk.AsStatus(err)
	}
	node := s.view.Of(nodeInfo)
	if !node.Fits(s.demand) {
		return 0, nil // Filter removes such a node; never a negative leftover
	}
	return node.FreeMilli() - s.demand.Milli(), nil
}

// ScoreExtensions returns the plugin itself for NormalizeScore.
func (pl *GPUBinPacking) ScoreExtensions() fwk.ScoreExtensions { return pl }

// NormalizeScore maps the fewest GPUs left over to MaxNodeScore and the most to 0, linearly.
func (*GPUBinPacking) NormalizeScore(_ context.Context, _ fwk.CycleState, _ *v1.Pod, scores fwk.NodeScoreList) *fwk.Status {
	pluginutil.InvertMinMax(scores)
	return nil
}
