package gpu

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
)

func namedNodeInfo(name string) *framework.NodeInfo {
	ni := framework.NewNodeInfo()
	ni.SetNode(st.MakeNode().Name(name).Obj())
	return ni
}

func TestNodeCacheGenerations(t *testing.T) {
	var c NodeCache[int]
	a, b := namedNodeInfo("a"), namedNodeInfo("b")
	if _, ok := c.Lookup(a); ok {
		t.Fatal("hit in an empty cache")
	}
	c.Set(a, 1)
	if v, ok := c.Lookup(a); !ok || v != 1 {
		t.Fatalf("Lookup(a) = %d, %v; want 1, true", v, ok)
	}
	if _, ok := c.Lookup(b); ok {
		t.Fatal("hit for a node never set")
	}
	// A change to the node (here a Pod) bumps its generation: the old value is stale.
	a.AddPod(st.MakePod().Name("p").UID("p").Obj())
	if _, ok := c.Lookup(a); ok {
		t.Fatal("hit after the node changed")
	}
	if v := c.Get(a, func(fwk.NodeInfo) int { return 2 }); v != 2 {
		t.Fatalf("Get after the change = %d, want 2", v)
	}
	if v, ok := c.Lookup(a); !ok || v != 2 {
		t.Fatalf("Lookup(a) = %d, %v; want 2, true", v, ok)
	}
}

// Slots for new nodes are added in batches; every node set must be found, whether its slot is
// published yet or still pending.
func TestNodeCacheManyNodes(t *testing.T) {
	var c NodeCache[int]
	nodes := make([]*framework.NodeInfo, 1000)
	for i := range nodes {
		nodes[i] = namedNodeInfo(fmt.Sprintf("n%d", i))
		c.Set(nodes[i], i)
		for _, j := range []int{0, i / 2, i} {
			if v, ok := c.Lookup(nodes[j]); !ok || v != j {
				t.Fatalf("after %d nodes: Lookup(n%d) = %d, %v", i+1, j, v, ok)
			}
		}
	}
	// Every node has been read since it was set: reads no longer take the lock.
	if got := c.publishedLen(); got != len(nodes) {
		t.Errorf("%d of %d slots published", got, len(nodes))
	}
}

// The scheduler's NodeInfos are found without their names once they have hit twice; copies of a
// NodeInfo (nominated Pods, preemption), read a few times each, never displace them, and a node
// added again under the same name takes over its slot after strayHitsToRebind reads: one entry per
// node, whatever was looked up.
func TestNodeCacheByNodeInfo(t *testing.T) {
	var c NodeCache[int]
	nodes := make([]*framework.NodeInfo, 50)
	for i := range nodes {
		nodes[i] = namedNodeInfo(fmt.Sprintf("n%d", i))
		c.Set(nodes[i], i)
	}
	byInfo := func() map[*framework.NodeInfo]*nodeCacheSlot[int] {
		if p := c.byInfo.Load(); p != nil {
			return *p
		}
		return nil
	}
	for pass := 0; pass < 2; pass++ {
		for i, ni := range nodes {
			if v, ok := c.Lookup(ni); !ok || v != i {
				t.Fatalf("pass %d: Lookup(n%d) = %d, %v", pass, i, v, ok)
			}
		}
	}
	if got := len(byInfo()); got != len(nodes) {
		t.Fatalf("after two passes %d of %d NodeInfos are found directly", got, len(nodes))
	}
	// Copies with a nominated Pod, one per cycle, for many cycles: each gets a new generation, is
	// computed and set, then read by several plugins.
	for cycle := 0; cycle < 3*strayHitsToRebind; cycle++ {
		clone := nodes[3].Snapshot().(*framework.NodeInfo)
		clone.AddPod(st.MakePod().Name("nominated").UID("nominated").Obj())
		if _, ok := c.Lookup(clone); ok {
			t.Fatal("a copy with a new Pod hit the original's value")
		}
		c.Set(clone, 300)
		for k := 0; k < 3; k++ {
			if v, ok := c.Lookup(clone); !ok || v != 300 {
				t.Fatalf("Lookup(copy) = %d, %v; want 300", v, ok)
			}
		}
		if _, ok := c.Lookup(nodes[3]); ok {
			t.Fatal("the original hit after its copy's value replaced its own")
		}
		c.Set(nodes[3], 3)
		if m := byInfo(); m[nodes[3]] == nil || m[clone] != nil {
			t.Fatalf("cycle %d: a copy displaced the snapshot's NodeInfo", cycle)
		}
	}
	// Copies that add nothing (every nominated Pod of lower priority) keep the generation, and hit.
	for cycle := 0; cycle < 3*strayHitsToRebind; cycle++ {
		clone := nodes[4].Snapshot().(*framework.NodeInfo)
		for k := 0; k < 3; k++ {
			if v, ok := c.Lookup(clone); !ok || v != 4 {
				t.Fatalf("Lookup(unchanged copy) = %d, %v; want 4", v, ok)
			}
		}
		if m := byInfo(); m[nodes[4]] == nil || m[clone] != nil {
			t.Fatalf("cycle %d: an unchanged copy displaced the snapshot's NodeInfo", cycle)
		}
	}
	// The node is deleted and added again: a new NodeInfo under the old name.
	again := namedNodeInfo("n7")
	c.Set(again, 700)
	for k := 0; k < strayHitsToRebind+2; k++ {
		if v, ok := c.Lookup(again); !ok || v != 700 {
			t.Fatalf("Lookup(n7 again) = %d, %v; want 700", v, ok)
		}
	}
	m := byInfo()
	if len(m) != len(nodes) || m[again] == nil || m[nodes[7]] != nil {
		t.Errorf("byInfo holds %d NodeInfos (want %d), the new n7: %v, the old one: %v", len(m), len(nodes), m[again] != nil, m[nodes[7]] != nil)
	}
	if v, ok := c.Lookup(nodes[8]); !ok || v != 8 {
		t.Errorf("Lookup(n8) = %d, %v after others changed", v, ok)
	}
}

// churningCluster keeps nodes as the scheduler's snapshot does: one NodeInfo per node for as long as
// the node exists, changed in place (a new generation) when a Pod lands on it. Nodes come and go in
// waves, some deleted nodes coming back under their old names with new NodeInfos.
type churningCluster struct {
	live    []*framework.NodeInfo // oldest first
	created int                   // NodeInfos made so far
	pods    int
}

// wave deletes the oldest nodes, down to keep, then adds n nodes, one in ten under the name of a
// node just deleted.
func (c *churningCluster) wave(keep, n int) {
	var deleted []string
	if drop := len(c.live) - keep; drop > 0 {
		for _, ni := range c.live[:drop] {
			deleted = append(deleted, ni.Node().Name)
		}
		c.live = append([]*framework.NodeInfo(nil), c.live[drop:]...)
	}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("n%d", c.created)
		if i%10 == 0 && i/10 < len(deleted) {
			name = deleted[i/10]
		}
		ni := framework.NewNodeInfo()
		ni.SetNode(st.MakeNode().Name(name).Capacity(map[v1.ResourceName]string{ResourceName: fmt.Sprint(1 + c.created%8)}).Obj())
		c.live = append(c.live, ni)
		c.created++
		c.bind(ni)
	}
}

// bind puts a Pod on the node: a share of one of its GPUs, or a whole GPU.
func (c *churningCluster) bind(ni *framework.NodeInfo) {
	c.pods++
	name := fmt.Sprintf("p%d", c.pods)
	if c.pods%2 == 0 {
		ni.AddPod(share(name, "0.25", fmt.Sprint(c.pods%int(ni.Allocatable.ScalarResources[ResourceName]))))
		return
	}
	ni.AddPod(st.MakePod().Name(name).UID(name).Req(map[v1.ResourceName]string{ResourceName: "1"}).Obj())
}

// nodes is the snapshot's list, as PreFilter gets it.
func (c *churningCluster) nodes() []fwk.NodeInfo {
	out := make([]fwk.NodeInfo, len(c.live))
	for i, ni := range c.live {
		out[i] = ni
	}
	return out
}

// nominatedCopy is what kube-scheduler filters for a node with a nominated Pod: a copy with the Pod
// added, a new generation under the node's name.
func nominatedCopy(ni *framework.NodeInfo) *framework.NodeInfo {
	c := ni.Snapshot().(*framework.NodeInfo)
	c.AddPod(st.MakePod().Name("nominated").UID("nominated").Req(map[v1.ResourceName]string{ResourceName: "1"}).Obj())
	return c
}

// checkState compares the cached state of a node with one computed afresh.
func checkState(t *testing.T, states *NodeStates, ni fwk.NodeInfo) {
	if got, want := states.Of(ni), ReadNode(ni); *got != want {
		t.Errorf("%s: cached state %+v, computed afresh %+v", ni.Node().Name, *got, want)
	}
}

// checkHoldsOnly fails unless c has a slot for each node of live and no other, and finds NodeInfos
// directly only if they are live.
func checkHoldsOnly[V any](t *testing.T, c *NodeCache[V], live []fwk.NodeInfo) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	names := map[string]bool{}
	for _, ni := range live {
		names[ni.Node().Name] = true
	}
	if n := c.publishedLen() + len(c.pending); n != len(live) {
		t.Errorf("%d slots for %d live nodes", n, len(live))
	}
	for _, slots := range []map[string]*nodeCacheSlot[V]{orEmpty(c.slots.Load()), c.pending} {
		for name := range slots {
			if !names[name] {
				t.Errorf("a slot for deleted node %s", name)
			}
		}
	}
	isLive := map[fwk.NodeInfo]bool{}
	for _, ni := range live {
		isLive[ni] = true
	}
	for _, infos := range []map[*framework.NodeInfo]*nodeCacheSlot[V]{orEmpty(c.byInfo.Load()), c.pendingInfo} {
		for ni := range infos {
			if !isLive[ni] {
				t.Errorf("a NodeInfo of %s that is no longer the snapshot's is held", ni.Node().Name)
			}
		}
	}
}

func orEmpty[M any](p *M) M {
	if p == nil {
		var empty M
		return empty
	}
	return *p
}

// 20,000 nodes come and go in waves, as an autoscaled pool's do. Each cycle reads every live node
// (and a nominated-Pod copy of some) after PreFilter's Retain; every state read matches one computed
// afresh, and after each wave the cache holds the live nodes and no other.
func TestNodeCacheForgetsDeletedNodes(t *testing.T) {
	var states NodeStates
	var cluster churningCluster
	for cluster.created < 20000 {
		cluster.wave(2000, 1000)
		for cycle := 0; cycle < 2; cycle++ {
			states.Retain(cluster.nodes())
			for i, ni := range cluster.live {
				checkState(t, &states, ni)
				if i%100 == 0 {
					checkState(t, &states, nominatedCopy(ni))
				}
				if i%7 == cycle {
					cluster.bind(ni) // a placement: the next cycle reads a new generation
				}
			}
		}
		if t.Failed() {
			t.FailNow()
		}
		states.Retain(cluster.nodes())
		checkHoldsOnly(t, &states.cache, cluster.nodes())
	}
}

// Score's and Filter's goroutines (kube-scheduler runs 16) read and fill the cache at once, while
// waves of nodes come and go between cycles and, more than the scheduler ever does, Retain sweeps
// during the reads. Run it with -race.
func TestNodeCacheConcurrent(t *testing.T) {
	var states NodeStates
	var cluster churningCluster
	for cluster.created < 4000 {
		cluster.wave(1000, 500)
		for i := 0; i < len(cluster.live); i += 3 {
			cluster.bind(cluster.live[i])
		}
		live := cluster.nodes()
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)) - 1; i < 2*len(live); i = int(next.Add(1)) - 1 {
					ni := cluster.live[i%len(live)]
					checkState(t, &states, ni)
					if i%50 == 0 {
						checkState(t, &states, nominatedCopy(ni))
						states.Retain(live)
					}
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
	states.Retain(cluster.nodes())
	checkHoldsOnly(t, &states.cache, cluster.nodes())
}

// TestNodeCachePublishesInFewCopies reads a cluster as a scheduling cycle does: each node is read by
// several plugins one after another, and Retain runs once per cycle. The NodeInfos join byInfo in a
// few copies of the map, not one per node, and all of them are found directly after a pass.
func TestNodeCachePublishesInFewCopies(t *testing.T) {
	const nodeCount, perCycle = 2000, 200
	var c NodeCache[int]
	nodes := make([]*framework.NodeInfo, nodeCount)
	live := make([]fwk.NodeInfo, nodeCount)
	for i := range nodes {
		nodes[i] = namedNodeInfo(fmt.Sprintf("n%d", i))
		live[i] = nodes[i]
	}
	copies, last := 0, c.byInfo.Load()
	for pass := 0; pass < 2; pass++ {
		for i, ni := range nodes {
			if i%perCycle == 0 {
				c.Retain(live)
			}
			for plugin := 0; plugin < 3; plugin++ {
				c.Get(ni, func(fwk.NodeInfo) int { return i })
				if p := c.byInfo.Load(); p != last {
					copies, last = copies+1, p
				}
			}
		}
	}
	if p := c.byInfo.Load(); p == nil || len(*p) != nodeCount {
		t.Fatalf("after two passes not all %d NodeInfos are found directly", nodeCount)
	}
	// log2(2000) + the cycles of the first pass, with room to spare; one per node before.
	if max := 11 + nodeCount/perCycle + 5; copies > max {
		t.Errorf("byInfo was copied %d times for %d nodes, want at most %d", copies, nodeCount, max)
	}
}
