package gpu

import (
	"maps"
	"sync"
	"sync/atomic"

	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
)

// NodeCache holds one value per node, valid for one NodeInfo generation: the scheduler bumps a node's
// generation whenever its Pods or labels change, and never reuses a generation, so a hit is current.
// Filter and Score read it for every node in every cycle, Score from several goroutines at once: a
// read found by NodeInfo (below) is a map lookup and two atomic loads. It takes no lock and writes
// no shared memory (a read lock's counter would bounce between the cores), and allocates nothing.
//
// Slots are found by node name, and faster by the NodeInfo itself: the scheduler's snapshot keeps
// one NodeInfo object per node for as long as the node exists (it copies changes into it), so its
// address identifies the node without reading the Node object and hashing its name, which on a
// full cluster, where Filter turns most nodes away, was most of what a read cost. At 5,000 nodes a
// map by name under a sync.RWMutex made the plugins' Filter and Score calls 1.29x as slow (geometric
// mean; GPUFit's Filter 2.2x from 16 goroutines on two cores), a sync.Map 1.56x.
//
// Retain, called with the snapshot's NodeInfos in PreFilter, drops the slots of deleted nodes: after
// it a cache holds no more slots than the cluster has nodes, however many have come and gone.
type NodeCache[V any] struct {
	// slots maps a node name to its slot. It is replaced, never modified: a node never seen before
	// adds a slot, first to pending, and Retain drops those of deleted nodes.
	slots atomic.Pointer[map[string]*nodeCacheSlot[V]]
	// mu serialises adding and dropping slots.
	mu sync.Mutex
	// pending are slots added since slots was last copied (lockedSlot); read under mu.
	pending map[string]*nodeCacheSlot[V]

	// byInfo maps each node's NodeInfo, once it is published (hitByName, Retain), to the node's
	// slot: one NodeInfo per slot. Replaced, never modified.
	byInfo atomic.Pointer[map[*framework.NodeInfo]*nodeCacheSlot[V]]
	// pendingInfo are NodeInfo objects made their slot's since byInfo was last copied; read under mu.
	pendingInfo map[*framework.NodeInfo]*nodeCacheSlot[V]
}

// strayHitsToRebind is how many consecutive hits by name from one NodeInfo other than its slot's make
// the slot take that NodeInfo. kube-scheduler's copies of a NodeInfo (to add nominated Pods, or in
// preemption) are each read a few times within one cycle, and must not displace the snapshot's; a
// node deleted and added again has a new NodeInfo for good, which should.
const strayHitsToRebind = 64

type nodeCacheSlot[V any] struct {
	entry atomic.Pointer[nodeCacheEntry[V]]
	// info is the NodeInfo that byInfo (or pendingInfo) holds for this slot; stored under mu.
	info atomic.Pointer[framework.NodeInfo]
	// candidate is the latest other NodeInfo that hit by name, and strays its consecutive hits.
	candidate atomic.Pointer[framework.NodeInfo]
	strays    atomic.Int32
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
	ni, _ := nodeInfo.(*framework.NodeInfo)
	if ni != nil {
		if m := c.byInfo.Load(); m != nil {
			if s := (*m)[ni]; s != nil {
				return s.current(ni.Generation)
			}
		}
	}
	s := c.published(nodeInfo.Node().Name)
	if s == nil {
		s = c.lockedSlot(nodeInfo.Node().Name, false)
	}
	if s == nil {
		var zero V
		return zero, false
	}
	v, ok := s.current(nodeInfo.GetGeneration())
	if ok && ni != nil {
		c.hitByName(ni, s)
	}
	return v, ok
}

func (s *nodeCacheSlot[V]) current(generation int64) (V, bool) {
	if e := s.entry.Load(); e != nil && e.generation == generation {
		return e.value, true
	}
	var zero V
	return zero, false
}

// hitByName notes a hit found by name, not by NodeInfo. A slot takes the first NodeInfo that hits
// (pending). Several plugins read a node one after another, so a second hit comes at once: it
// publishes the pending NodeInfos only when they are as many as those published, and Retain, once
// per cycle, publishes the rest; a cluster's nodes join byInfo in O(log n) copies, not one copy of
// the map per node (at 5,000 nodes that was 0.6 s of a 10,000-Pod run). Another NodeInfo takes the
// slot only after strayHitsToRebind consecutive hits, and is published at once.
func (c *NodeCache[V]) hitByName(ni *framework.NodeInfo, s *nodeCacheSlot[V]) {
	cur := s.info.Load()
	if cur != nil && cur != ni {
		if s.candidate.Swap(ni) != ni {
			s.strays.Store(1)
			return
		}
		if s.strays.Add(1) < strayHitsToRebind {
			return
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch now := s.info.Load(); {
	case now == ni:
		if c.pendingInfo[ni] == s && len(c.pendingInfo) >= max(c.byInfoLen(), 1) {
			c.publishInfo()
		}
		return
	case now != cur:
		return // another hit changed the slot meanwhile
	}
	if c.pendingInfo == nil {
		c.pendingInfo = map[*framework.NodeInfo]*nodeCacheSlot[V]{}
	}
	if cur != nil {
		delete(c.pendingInfo, cur)
	}
	s.info.Store(ni)
	s.candidate.Store(nil)
	c.pendingInfo[ni] = s
	if cur != nil {
		c.publishInfo() // a node added again, or a copy that has taken over: rare
	}
}

func (c *NodeCache[V]) byInfoLen() int {
	if p := c.byInfo.Load(); p != nil {
		return len(*p)
	}
	return 0
}

// publishInfo replaces byInfo with one holding the pending NodeInfos too, and no NodeInfo that is no
// longer its slot's; called under mu.
func (c *NodeCache[V]) publishInfo() {
	var old map[*framework.NodeInfo]*nodeCacheSlot[V]
	if p := c.byInfo.Load(); p != nil {
		old = *p
	}
	m := make(map[*framework.NodeInfo]*nodeCacheSlot[V], len(old)+len(c.pendingInfo))
	for _, from := range []map[*framework.NodeInfo]*nodeCacheSlot[V]{old, c.pendingInfo} {
		for ni, s := range from {
			if s.info.Load() == ni {
				m[ni] = s
			}
		}
	}
	c.byInfo.Store(&m)
	c.pendingInfo = nil
}

// Retain drops the slots of nodes not in live, the scheduler's NodeInfos (PreFilter's list), and
// unbinds NodeInfos that are not live (a node deleted, or added again under its name). It sweeps
// only when the cache holds more slots than live has nodes (some slot's node is gone), so a call
// in every cycle costs a lock and a comparison, and a sweep follows node deletions. It publishes
// the NodeInfos first read since the last call.
func (c *NodeCache[V]) Retain(live []fwk.NodeInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.publishedLen()+len(c.pending) <= len(live) {
		if len(c.pendingInfo) > 0 {
			c.publishInfo()
		}
		return
	}
	byName := make(map[string]fwk.NodeInfo, len(live))
	for _, ni := range live {
		byName[ni.Node().Name] = ni
	}
	slots := make(map[string]*nodeCacheSlot[V], len(live))
	var published map[string]*nodeCacheSlot[V]
	if p := c.slots.Load(); p != nil {
		published = *p
	}
	for _, from := range []map[string]*nodeCacheSlot[V]{published, c.pending} {
		for name, s := range from {
			ni, ok := byName[name]
			if info := s.info.Load(); info != nil && (!ok || ni != fwk.NodeInfo(info)) {
				s.info.Store(nil) // publishInfo leaves it out of byInfo; a live NodeInfo binds on its next hit
			}
			if ok {
				slots[name] = s
			}
		}
	}
	c.slots.Store(&slots)
	c.pending = nil
	c.publishInfo()
}

// Set stores the node's value for its current generation.
func (c *NodeCache[V]) Set(nodeInfo fwk.NodeInfo, v V) {
	name := nodeInfo.Node().Name
	s := c.published(name)
	if s == nil {
		s = c.lockedSlot(name, true)
	}
	s.entry.Store(&nodeCacheEntry[V]{generation: nodeInfo.GetGeneration(), value: v})
}

func (c *NodeCache[V]) published(name string) *nodeCacheSlot[V] {
	if slots := c.slots.Load(); slots != nil {
		return (*slots)[name]
	}
	return nil
}

// lockedSlot returns the node's slot, looking under mu at the slots not yet published; with create,
// it adds one if there is none. Pending slots are published when one of them is read (the nodes
// added so far are being read again), and when pending holds as many slots as were published
// before (so a cluster of n nodes is copied O(log n) times while it is first seen).
func (c *NodeCache[V]) lockedSlot(name string, create bool) *nodeCacheSlot[V] {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.published(name); s != nil {
		return s // published while we waited for the lock
	}
	s := c.pending[name]
	switch {
	case !create:
		if s != nil {
			c.publish()
		}
	case s == nil:
		if c.pending == nil {
			c.pending = map[string]*nodeCacheSlot[V]{}
		}
		s = &nodeCacheSlot[V]{}
		c.pending[name] = s
		if len(c.pending) >= max(c.publishedLen(), 1) {
			c.publish()
		}
	}
	return s
}

// Len is how many nodes the cache holds.
func (c *NodeCache[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.publishedLen() + len(c.pending)
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
	maps.Copy(slots, old)
	maps.Copy(slots, c.pending)
	c.slots.Store(&slots)
	c.pending = nil
}
