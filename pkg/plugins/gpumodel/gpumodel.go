// Package gpumodel keeps a Pod on nodes whose GPU model it accepts, as listed in its
// gpu-scheduler.io/gpu-model annotation and matched against the node's GPU product label.
package gpumodel

import (
	"context"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	schedutil "k8s.io/kubernetes/pkg/scheduler/util"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config/validation"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/pluginutil"
)

var (
	_ fwk.PreFilterPlugin   = &GPUModel{}
	_ fwk.FilterPlugin      = &GPUModel{}
	_ fwk.EnqueueExtensions = &GPUModel{}
	_ fwk.SignPlugin        = &GPUModel{}
)

const (
	// Name is the plugin name used in the scheduler configuration.
	Name = "GPUModel"

	preFilterStateKey fwk.StateKey = "PreFilter" + Name

	// ReasonNoModelLabel: the node does not say which GPU model it has.
	ReasonNoModelLabel = "node(s) have no GPU model label"
	// ReasonModelNotAccepted: the node's GPU model is not in the Pod's list.
	ReasonModelNotAccepted = "node(s) have a GPU model the pod does not accept"
)

// GPUModel is a Filter plugin on the node's GPU model.
type GPUModel struct {
	modelLabel string
	handle     fwk.Handle
	states     *gpu.NodeStates
}

// New builds the plugin from GPUModelArgs.
func New(ctx context.Context, obj runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
	args, err := pluginutil.DecodeArgs[*config.GPUModelArgs](Name, obj)
	if err != nil {
		return nil, err
	}
	if err := validation.ValidateGPUModelArgs(field.NewPath("pluginConfig", Name, "args"), args); err != nil {
		return nil, err
	}
	return &GPUModel{modelLabel: args.ModelLabel, handle: h, states: gpu.NodeStatesFor(ctx, h)}, nil
}

// Name returns the plugin name.
func (*GPUModel) Name() string { return Name }

// preFilterState holds the accepted models, lower-cased, parsed once per scheduling cycle, and the
// cycle's view of the nodes' GPUs (models of DRA nodes come from their devices).
type preFilterState struct {
	models []string
	view   *gpu.View
}

// Clone shares the state: it is never modified after PreFilter.
func (s *preFilterState) Clone() fwk.StateData { return s }

// PreFilter parses the Pod's accepted models; a Pod that names none skips Filter, and a malformed
// list makes the Pod unschedulable with the parse error, since no node could change that.
func (pl *GPUModel) PreFilter(ctx context.Context, cycleState fwk.CycleState, pod *v1.Pod, _ []fwk.NodeInfo) (*fwk.PreFilterResult, *fwk.Status) {
	models, ok, err := acceptedModels(pod)
	if err != nil {
		return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable, err.Error())
	}
	if !ok {
		return nil, fwk.NewStatus(fwk.Skip)
	}
	view, err := pl.states.View(ctx, cycleState, pl.handle)
	if err != nil {
		return nil, fwk.AsStatus(err)
	}
	cycleState.Write(preFilterStateKey, &preFilterState{models: models, view: view})
	return nil, nil
}

// SignPod signs the Pod's accepted models, its only input.
func (*GPUModel) SignPod(_ context.Context, pod *v1.Pod) ([]fwk.SignFragment, *fwk.Status) {
	return []fwk.SignFragment{gpu.SignAnnotation(pod, gpu.ModelAnnotation)}, nil
}

// PreFilterExtensions returns nil: the state does not depend on other Pods.
func (*GPUModel) PreFilterExtensions() fwk.PreFilterExtensions { return nil }

// Filter checks the node's model label against the accepted models; a node without the label is
// judged by the model its DRA devices publish, if any.
func (pl *GPUModel) Filter(_ context.Context, cycleState fwk.CycleState, _ *v1.Pod, nodeInfo fwk.NodeInfo) *fwk.Status {
	s, err := pluginutil.ReadState[*preFilterState](cycleState, preFilterStateKey)
	if err != nil {
		return fwk.AsStatus(err)
	}
	model, ok := s.view.Model(nodeInfo, pl.modelLabel)
	if !ok {
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonNoModelLabel)
	}
	if !accepts(s.models, model) {
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonModelNotAccepted)
	}
	return nil
}

// EventsToRegister: only a new node, or a node relabelled (GPU Feature Discovery running late), can
// bring an accepted model.
func (pl *GPUModel) EventsToRegister(_ context.Context) ([]fwk.ClusterEventWithHint, error) {
	return []fwk.ClusterEventWithHint{
		{Event: fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeLabel}, QueueingHintFn: pl.isSchedulableAfterNodeChange},
	}, nil
}

func (pl *GPUModel) isSchedulableAfterNodeChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (fwk.QueueingHint, error) {
	oldNode, newNode, err := schedutil.As[*v1.Node](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	models, ok, err := acceptedModels(pod)
	if err != nil || !ok {
		// A malformed list stays malformed; a Pod without one was not rejected by this plugin.
		return fwk.QueueSkip, nil
	}
	model, has := newNode.Labels[pl.modelLabel]
	if !has || !accepts(models, model) {
		return fwk.QueueSkip, nil
	}
	if oldNode != nil && accepts(models, oldNode.Labels[pl.modelLabel]) {
		return fwk.QueueSkip, nil
	}
	logger.V(5).Info("a node now has an accepted GPU model", "pod", klog.KObj(pod), "node", klog.KObj(newNode), "model", model)
	return fwk.Queue, nil
}

// acceptedModels parses the Pod's model annotation; ok is false when the Pod has none.
func acceptedModels(pod *v1.Pod) (models []string, ok bool, err error) {
	value, has := pod.Annotations[gpu.ModelAnnotation]
	if !has {
		return nil, false, nil
	}
	models, err = gpu.ParseList(gpu.ModelAnnotation, value)
	return models, err == nil, err
}

// accepts matches case-insensitively without allocating; models are already lower case.
func accepts(models []string, model string) bool {
	for _, m := range models {
		if strings.EqualFold(m, model) {
			return true
		}
	}
	return false
}
