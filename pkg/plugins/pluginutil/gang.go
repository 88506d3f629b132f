package pluginutil

import (
	"context"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/scheduler-plugins/apis/scheduling/v1alpha1"
	schedplugutil "sigs.k8s.io/scheduler-plugins/pkg/util"
)

// GangSizer tells how many members a gang (a PodGroup) has: its minMember.
type GangSizer interface {
	MinMember(namespace, name string) (int, bool)
}

// podGroupSizer reads PodGroups from the API through a cache, as Coscheduling does.
type podGroupSizer struct {
	ctx    context.Context
	client client.Client
}

func (s *podGroupSizer) MinMember(namespace, name string) (int, bool) {
	var pg v1alpha1.PodGroup
	if err := s.client.Get(s.ctx, types.NamespacedName{Namespace: namespace, Name: name}, &pg); err != nil {
		return 0, false
	}
	return int(pg.Spec.MinMember), true
}

// NewPodGroupSizer connects to the API server the scheduler uses; nil without one (the simulator
// supplies its own sizes).
func NewPodGroupSizer(ctx context.Context, h fwk.Handle) GangSizer {
	if h == nil || h.KubeConfig() == nil {
		return nil
	}
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil
	}
	c, _, err := schedplugutil.NewClientWithCachedReader(ctx, h.KubeConfig(), scheme)
	if err != nil {
		klog.FromContext(ctx).Error(err, "PodGroups unreadable: gangs are placed member by member")
		return nil
	}
	return &podGroupSizer{ctx: ctx, client: c}
}

// PlacedMembers counts the Pods of pod's gang (its namespace and PodGroup label) on nodes, assigned
// or assumed, pod itself left out, and returns the nodes holding them.
func PlacedMembers(pod *v1.Pod, group string, nodes []fwk.NodeInfo) ([]*v1.Node, int) {
	var placed []*v1.Node
	count := 0
	for _, ni := range nodes {
		here := false
		for _, pi := range ni.GetPods() {
			p := pi.GetPod()
			if p.Namespace == pod.Namespace && p.UID != pod.UID && p.Labels[v1alpha1.PodGroupLabel] == group {
				count++
				here = true
			}
		}
		if here {
			placed = append(placed, ni.Node())
		}
	}
	return placed, count
}
