package gpu

import (
	"sync"
	"sync/atomic"

	fwk "k8s.io/kube-scheduler/framework"
)

// NodeCache holds one value per node, valid for one NodeInfo generation: the scheduler bumps a node's
// generation whenever its Pods or labels change, and never reuses a generation, so a hit is current.
// Filter and Score read it for every node in every cycle, Score from several goroutines at once: a
// read is a map lookup and two atomic loads. It takes no lock and writes no shared memory (a read
// lock's counter would bounce between the cores), and allocates nothing.
type NodeCache[V any] struct {
	// slots maps a node name to its slot. It is replaced, never modified: only a node never seen
	// before adds a slot, first to pending.
	slots atomic.Pointer[map[string]*nodeCacheSlot[V]]
	// mu serialises adding slots.
	mu sync.Mutex
	// pending are slots added since slots was last copied; read under mu.
	pending map[string]*nodeCacheSlot[V]
}

type nodeCacheSlot[V any] struct {
	entry atomic.Pointer[nodeCacheEntry[V]]
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
	s := c.published(nodeInfo.Node().Name)
	if s == nil {
		s = c.pendingSlot(nodeInfo.Node().Name)
	}
	if s != nil {
		if e := s.entry.Load(); e != nil && e.generation == nodeInfo.GetGeneration() {
			return e.value, true
		}
	}
	var zero V
	return zero, false
}

// Set stores the node's value for its current generation.
func (c *NodeCache[V]) Set(nodeInfo fwk.NodeInfo, v V) {
	name := nodeInfo.Node().Name
	s := c.published(name)
	if s == nil {
		s = c.add(name)
	}
	s.entry.Store(&nodeCacheEntry[V]{generation: nodeInfo.GetGeneration(), value: v})
}

func (c *NodeCache[V]) published(name string) *nodeCacheSlot[V] {
	if slots := c.slots.Load(); slots != nil {
		return (*slots)[name]
	}
	return nil
}

// pendingSlot returns the node's slot if it is pending, and then publishes every pending slot: the
// node is being read again, so the slots added so far will be too.
func (c *NodeCache[V]) pendingSlot(name string) *nodeCacheSlot[V] {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.published(name); s != nil {
		return s // published while we waited for the lock
	}
	s := c.pending[name]
	if s != nil {
		c.publish()
	}
	return s
}

// add returns the node's slot, adding it to pending; pending is published once it holds as many
// slots as were published before (so n nodes are copied O(log n) times while a cluster is first
// seen), or when one of its nodes is read.
func (c *NodeCache[V]) add(name string) *nodeCacheSlot[V] {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.published(name); s != nil {
		return s // published while we waited for the lock
	}
	s := c.pending[name]
	if s == nil {
		if c.pending == nil {
			c.pending = map[string]*nodeCacheSlot[V]{}
		}
		s = &nodeCacheSlot[V]{}
		c.pending[name] = s
	}
	if len(c.pending) >= max(c.publishedLen(), 1) {
		c.publish()
	}
	return s
}

func (c *NodeCache[V]) publishedLen() int {
	if p := c.slots.Load(); p != nil {
		return len(*p)
	}
	return 0
}

// publish replaces the published map with one holding the pending slots too; called under mu.
func (c *NodeCache[V]) publish() {
	var old map[string]*nodeCacheSlot[V]
	if p := c.slots.Load(); p != nil {
		old = *p
	}
	slots := make(map[string]*nodeCacheSlot[V], len(old)+len(c.pending))
	for k, v := range old {
		slots[k] = v
	}
	for k, v := range c.pending {
		slots[k] = v
	}
	c.slots.Store(&slots)
	c.pending = nil
}
