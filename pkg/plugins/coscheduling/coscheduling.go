// Package coscheduling is scheduler-plugins' Coscheduling (all-or-nothing PodGroups) as gpu-scheduler
// registers it: the upstream plugin plus a signature for opportunistic batching and a PostFilter that
// speaks only about gangs. It is the one place that names the gang implementation, so another can be
// swapped in here alone.
package coscheduling

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	fwk "k8s.io/kube-scheduler/framework"
	"sigs.k8s.io/scheduler-plugins/apis/scheduling/v1alpha1"
	upstream "sigs.k8s.io/scheduler-plugins/pkg/coscheduling"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/pluginutil"
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

// Coscheduling is upstream's plugin with SignPod and its own PostFilter.
type Coscheduling struct {
	*upstream.Coscheduling
	handle fwk.Handle
	// sizer reads a gang's minMember; nil without an API server (the simulator).
	sizer pluginutil.GangSizer
}

// New builds upstream's plugin from CoschedulingArgs.
func New(ctx context.Context, obj runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
	pl, err := upstream.New(ctx, obj, h)
	if err != nil {
		return nil, err
	}
	return &Coscheduling{Coscheduling: pl.(*upstream.Coscheduling), handle: h, sizer: pluginutil.NewPodGroupSizer(ctx, h)}, nil
}

// PostFilter adds to an unschedulable Pod's event only what concerns its gang. A Pod in no gang gets
// nothing (upstream says "can not find pod group" to every Pod); a gang member gets where its gang
// stands, after upstream has done its work (rejecting the gang's waiting members, backing it off).
func (cs *Coscheduling) PostFilter(ctx context.Context, state fwk.CycleState, pod *v1.Pod, statuses fwk.NodeToStatusReader) (*fwk.PostFilterResult, *fwk.Status) {
	group := pod.Labels[v1alpha1.PodGroupLabel]
	if group == "" {
		return nil, fwk.NewStatus(fwk.Unschedulable)
	}
	result, status := cs.Coscheduling.PostFilter(ctx, state, pod, statuses)
	if status.Code() != fwk.Unschedulable {
		return result, status
	}
	return result, fwk.NewStatus(fwk.Unschedulable, cs.gangState(pod, group))
}

// gangState says how far the Pod's gang is: "gang team/train: 3 of 4 members placed, waiting for 1".
func (cs *Coscheduling) gangState(pod *v1.Pod, group string) string {
	name := pod.Namespace + "/" + group // a namespace and a label value: short
	placed := 0
	if cs.handle != nil {
		if nodes, err := cs.handle.SnapshotSharedLister().NodeInfos().List(); err == nil {
			_, placed = pluginutil.PlacedMembers(pod, group, nodes)
		}
	}
	if cs.sizer == nil {
		return fmt.Sprintf("gang %s: %d members placed", name, placed)
	}
	size, ok := cs.sizer.MinMember(pod.Namespace, group)
	if !ok {
		return fmt.Sprintf("gang %s: no PodGroup %s in namespace %s (create it, or remove the label %s)",
			name, group, pod.Namespace, v1alpha1.PodGroupLabel)
	}
	return fmt.Sprintf("gang %s: %d of %d members placed, waiting for %d", name, placed, size, max(size-placed, 0))
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
