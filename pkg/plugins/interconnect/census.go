package interconnect

import (
	"sync"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
	fwk "k8s.io/kube-scheduler/framework"
)

// census counts the cluster's nodes by interconnect set, from the scheduler's node informer, so that
// PreScore knows a uniform network without looking at every feasible node in every cycle (at 5,000
// nodes that look was most of the plugin's cost).
type census struct {
	mu     sync.Mutex
	byNode map[string]set
	counts map[set]int
	synced func() bool
	// uniform is set while every node has the same interconnects.
	uniform atomic.Bool
}

// watchNodes starts the census on h's node informer; without one (gpu-sim, unit tests) pl.census
// stays nil and PreScore looks at the nodes.
func (pl *Interconnect) watchNodes(h fwk.Handle) {
	if h == nil || h.SharedInformerFactory() == nil {
		return
	}
	c := &census{byNode: map[string]set{}, counts: map[set]int{}}
	put := func(obj any) {
		if n, ok := obj.(*v1.Node); ok {
			c.put(n.Name, pl.nodeSet(n))
		}
	}
	reg, err := h.SharedInformerFactory().Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    put,
		UpdateFunc: func(_, obj any) { put(obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if n, ok := obj.(*v1.Node); ok {
				c.remove(n.Name)
			}
		},
	})
	if err != nil {
		return
	}
	c.synced = reg.HasSynced
	pl.census = c
}

func (c *census) put(name string, s set) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.byNode[name]; ok {
		c.drop(old)
	}
	c.byNode[name] = s
	c.counts[s]++
	c.uniform.Store(len(c.counts) == 1)
}

func (c *census) remove(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.byNode[name]; ok {
		c.drop(old)
		delete(c.byNode, name)
	}
	c.uniform.Store(len(c.counts) == 1)
}

func (c *census) drop(s set) {
	if c.counts[s]--; c.counts[s] == 0 {
		delete(c.counts, s)
	}
}

// knownUniform reports whether the census has seen every node and they all have the same
// interconnects; false when unsure.
func (c *census) knownUniform() bool {
	return c != nil && c.uniform.Load() && c.synced()
}
