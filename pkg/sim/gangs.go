package sim

import (
	"context"
	"fmt"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/coscheduling"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/interconnect"
)

// gangSizes serves the simulated PodGroups' sizes to the Interconnect plugin, which in the scheduler
// reads them from the API.
type gangSizes struct {
	mu    sync.RWMutex
	sizes map[string]int
}

func (g *gangSizes) MinMember(namespace, name string) (int, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n, ok := g.sizes[namespace+"/"+name]
	return n, ok
}

func (g *gangSizes) set(namespace, name string, size int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sizes[namespace+"/"+name] = size
}

// coschedulingStandIn takes Coscheduling's place in the simulator's registry: Coscheduling needs an
// API server for its PodGroups. Its all-or-nothing outcome is ScheduleGang's; its queue order does
// not apply, since the simulator submits Pods in trace order.
type coschedulingStandIn struct{}

var _ fwk.QueueSortPlugin = coschedulingStandIn{}

func (coschedulingStandIn) Name() string                     { return coscheduling.Name }
func (coschedulingStandIn) Less(_, _ fwk.QueuedPodInfo) bool { return false }

// simRegistry is plugins.Registry with the two entries that need an API server replaced: the same
// policy code, fed by the simulator.
func simRegistry(registry frameworkruntime.Registry, sizes *gangSizes) {
	registry[coscheduling.Name] = func(context.Context, runtime.Object, fwk.Handle) (fwk.Plugin, error) {
		return coschedulingStandIn{}, nil
	}
	registry[interconnect.Name] = interconnect.NewWithGangSizer(sizes)
}

// ScheduleGang places members of a gang (PodGroup name, whose minMember the Interconnect plugin
// reads) all or nothing, as Coscheduling's Permit barrier does: members are scheduled one by one,
// and if one cannot be placed, those already placed are taken off again and the last Placement
// has no node.
func (s *Simulator) ScheduleGang(namespace, name string, minMember int, members []*v1.Pod) ([]Placement, error) {
	s.gangs.set(namespace, name, minMember)
	out := make([]Placement, 0, len(members))
	for _, pod := range members {
		p, err := s.Schedule(pod)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
		if p.Node != "" {
			continue
		}
		for _, placed := range out[:len(out)-1] {
			if err := s.Remove(placed.Pod, placed.Node); err != nil {
				return nil, fmt.Errorf("gang %s/%s: undoing %s: %w", namespace, name, placed.Pod.Name, err)
			}
			s.fw.RunReservePluginsUnreserve(s.ctx, framework.NewCycleState(), placed.Pod, placed.Node)
		}
		return out, nil
	}
	return out, nil
}
