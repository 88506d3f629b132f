// Package coscheduling is scheduler-plugins' Coscheduling (all-or-nothing PodGroups) as gpu-scheduler
// registers it: the upstream plugin, unchanged, plus a signature for opportunistic batching. It is
// the one place that names the gang implementation, so another can be swapped in here alone.
package coscheduling

import (
	"context"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	fwk "k8s.io/kube-scheduler/framework"
	"sigs.k8s.io/scheduler-plugins/apis/scheduling/v1alpha1"
	upstream "sigs.k8s.io/scheduler-plugins/pkg/coscheduling"
)

var (
	_ fwk.QueueSortPlugin   = &Coscheduling{}
	_ fwk.PreFilterPlugin   = &Coscheduling{}
	_ fwk.PostFilterPlugin  = &Coscheduling{}
	_ fwk.PermitPlugin      = &Coscheduling{}
	_ fwk.ReservePlugin     = &Coscheduling{}
	_ fwk.EnqueueExtensions = &Coscheduling{}
	_ fwk.SignPlugin        = &Coscheduling{}
)

// Name is the plugin name used in the scheduler configuration: upstream's.
const Name = upstream.Name

// Coscheduling is upstream's plugin with SignPod.
type Coscheduling struct {
	*upstream.Coscheduling
}

// New builds upstream's plugin from CoschedulingArgs.
func New(ctx context.Context, obj runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
	pl, err := upstream.New(ctx, obj, h)
	if err != nil {
		return nil, err
	}
	return &Coscheduling{Coscheduling: pl.(*upstream.Coscheduling)}, nil
}

// SignPod: without SignPod an enabled PreFilter would turn batching off for the whole profile.
// PreFilter passes every Pod outside a PodGroup, so those sign with nothing; a gang member's verdict
// depends on its gang's state (members so far, back-off), which no signature captures.
func (*Coscheduling) SignPod(_ context.Context, pod *v1.Pod) ([]fwk.SignFragment, *fwk.Status) {
	if pod.Labels[v1alpha1.PodGroupLabel] != "" {
		return nil, fwk.NewStatus(fwk.Unschedulable, "a gang member's verdict depends on its gang")
	}
	return nil, nil
}
