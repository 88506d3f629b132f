package gpu

import (
	"sync"

	fwk "k8s.io/kube-scheduler/framework"
)

// NodeCache holds one value per node, valid for one NodeInfo generation: the scheduler bumps a node's
// generation whenever its Pods or labels change, and never reuses a generation, so a hit is current.
// Filter and Score read it for every node in every cycle: a read takes a read lock and a map lookup
// and allocates nothing.
type NodeCache[V any] struct {
	mu sync.RWMutex
	m  map[string]nodeCacheEntry[V]
}

type nodeCacheEntry[V any] struct {
	generation int64
	value      V
}

// Get returns the node's cached value, computing and storing it on a miss. compute should not be a
// closure made per call: that allocates.
func (c *NodeCache[V]) Get(nodeInfo fwk.NodeInfo, compute func(fwk.NodeInfo) V) V {
	if v, ok := c.Lookup(nodeInfo); ok {
		return v
	}
	v := compute(nodeInfo)
	c.Set(nodeInfo, v)
	return v
}

// Lookup returns the node's cached value if it is current.
func (c *NodeCache[V]) Lookup(nodeInfo fwk.NodeInfo) (V, bool) {
	name, gen := nodeInfo.Node().Name, nodeInfo.GetGeneration()
	c.mu.RLock()
	e, ok := c.m[name]
	c.mu.RUnlock()
	if ok && e.generation == gen {
		return e.value, true
	}
	var zero V
	return zero, false
}

// Set stores the node's value for its current generation.
func (c *NodeCache[V]) Set(nodeInfo fwk.NodeInfo, v V) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]nodeCacheEntry[V]{}
	}
	c.m[nodeInfo.Node().Name] = nodeCacheEntry[V]{generation: nodeInfo.GetGeneration(), value: v}
	c.mu.Unlock()
}
