package gpu

import (
	"context"
	"reflect"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
)

func share(name, fraction, idx string) *v1.Pod {
	p := st.MakePod().Name(name).UID(name).Node("n").Obj()
	p.Annotations = map[string]string{FractionAnnotation: fraction}
	if idx != "" {
		p.Annotations[GPUIndexAnnotation] = idx
	}
	return p
}

func TestReadNode(t *testing.T) {
	node := st.MakeNode().Name("n").Capacity(map[v1.ResourceName]string{ResourceName: "4"}).Obj()
	whole := st.MakePod().Name("w").UID("w").Node("n").Req(map[v1.ResourceName]string{ResourceName: "1"}).Obj()
	cpuOnly := st.MakePod().Name("cpu").UID("cpu").Node("n").Req(map[v1.ResourceName]string{v1.ResourceCPU: "3", v1.ResourceMemory: "1Gi"}).Obj()
	ni := framework.NewNodeInfo(whole, share("a", "0.5", "0"), share("b", "0.25", "0"), share("c", "0.3", "2"),
		share("lost", "0.1", ""), share("bad-index", "0.1", "9"), share("bad-fraction", "2", "1"), cpuOnly)
	ni.SetNode(node)
	s := ReadNode(ni)
	// 1 whole + 2 shares without a usable index, each counted as a whole GPU.
	if s.Allocatable != 4 || s.WholeUsed != 3 || s.SharedGPUs != 2 || s.Shared[0] != 750 || s.Shared[2] != 300 {
		t.Fatalf("ReadNode = %+v", s)
	}
	if s.NonGPUMilliCPU != 3000 || s.NonGPUMemory != 1<<30 {
		t.Errorf("requests of Pods without GPUs = %d milli-CPU, %d bytes; want 3000 and 1Gi", s.NonGPUMilliCPU, s.NonGPUMemory)
	}
	if s.FreeWhole() != 0 {
		t.Errorf("FreeWhole = %d, want 0", s.FreeWhole())
	}
	if got := s.FreeSlices(nil); !reflect.DeepEqual(got, []int64{250, 700}) {
		t.Errorf("FreeSlices = %v", got)
	}
	if s.FreeMilli() != 950 {
		t.Errorf("FreeMilli = %d, want 950", s.FreeMilli())
	}
	if allocs := testing.AllocsPerRun(50, func() { ReadNode(ni) }); allocs != 0 {
		t.Errorf("ReadNode allocates %v times", allocs)
	}
}

func TestPickGPUAndTake(t *testing.T) {
	s := NodeState{Allocatable: 3}
	if got := s.PickGPU(600); got != 0 {
		t.Fatalf("first share goes to GPU %d, want 0", got)
	}
	s.Take(Demand{Share: 600}, 0)
	if got := s.PickGPU(500); got != 1 {
		t.Errorf("a share that does not fit GPU 0 goes to %d, want 1", got)
	}
	if got := s.PickGPU(400); got != 0 {
		t.Errorf("a share that fits GPU 0 goes to %d, want 0 (tightest)", got)
	}
	s.Take(Demand{Whole: 2}, -1)
	if s.FreeWhole() != 0 || s.Fits(Demand{Whole: 1}) || s.PickGPU(500) != -1 || !s.Fits(Demand{Share: 400}) {
		t.Errorf("after taking every GPU: %+v", s)
	}
}

func TestFormatFractionRejectsOutOfRange(t *testing.T) {
	for _, m := range []int64{0, 1000, -1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("FormatFraction(%d) did not panic", m)
				}
			}()
			FormatFraction(m)
		}()
	}
}

// Two schedulers in one process (gpu-sim's parallel runs) see nodes of the same name at different
// generations: each framework's cache keeps its own state instead of evicting the other's, and the
// plugins of one framework share one cache.
func TestNodeStatesFor(t *testing.T) {
	node := st.MakeNode().Name("n").Capacity(map[v1.ResourceName]string{ResourceName: "4"}).Obj()
	busy := framework.NewNodeInfo(st.MakePod().Name("w").UID("w").Node("n").Req(map[v1.ResourceName]string{ResourceName: "3"}).Obj())
	busy.SetNode(node)
	idle := framework.NewNodeInfo()
	idle.SetNode(node)
	ctx, cancel := context.WithCancel(context.Background())
	handleA, handleB := new(int), new(int)
	a, b := NodeStatesFor(ctx, handleA), NodeStatesFor(ctx, handleB)
	if a == b || NodeStatesFor(ctx, handleA) != a {
		t.Fatal("want one cache per framework handle")
	}
	first := a.Of(busy)
	b.Of(idle)
	if a.Of(busy) != first {
		t.Error("another framework's entry for the same node name evicted this one's")
	}
	if a.Of(busy).FreeWhole() != 1 || b.Of(idle).FreeWhole() != 4 {
		t.Errorf("FreeWhole = %d and %d, want 1 and 4", a.Of(busy).FreeWhole(), b.Of(idle).FreeWhole())
	}
	if allocs := testing.AllocsPerRun(50, func() { a.Of(busy) }); allocs != 0 {
		t.Errorf("a cache hit allocates %v times", allocs)
	}
	if (*NodeStates)(nil).Of(idle).FreeWhole() != 4 {
		t.Error("a nil cache must compute the state")
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for NodeStatesFor(context.Background(), handleA) == a {
		if time.Now().After(deadline) {
			t.Fatal("the cache outlived its framework's context")
		}
		time.Sleep(time.Millisecond)
	}
}
