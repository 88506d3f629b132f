package gpu

import (
	"fmt"
	"sync"
	"testing"

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

// Readers and writers at once, as Score's goroutines are (run with -race too, by hand: make test
// does not build with the race detector).
func TestNodeCacheConcurrent(t *testing.T) {
	var c NodeCache[int]
	nodes := make([]*framework.NodeInfo, 200)
	for i := range nodes {
		nodes[i] = namedNodeInfo(fmt.Sprintf("n%d", i))
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 2000; k++ {
				ni := nodes[(k*7+w)%len(nodes)]
				if v, ok := c.Lookup(ni); ok && v != len(ni.Node().Name) {
					t.Errorf("Lookup(%s) = %d", ni.Node().Name, v)
					return
				}
				c.Set(ni, len(ni.Node().Name))
			}
		}()
	}
	wg.Wait()
	// Every node was set: each has one slot, and reads find it.
	for _, ni := range nodes {
		if _, ok := c.Lookup(ni); !ok {
			t.Errorf("Lookup(%s) missed after it was set", ni.Node().Name)
		}
	}
	if n := c.publishedLen() + len(c.pending); n != len(nodes) {
		t.Errorf("%d slots for %d nodes", n, len(nodes))
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
