package interconnect

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	clientsetfake "k8s.io/client-go/kubernetes/fake"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config"
	configv1 "github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config/v1"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/plugintest"
)

// The node informer's census lets PreScore skip on a uniform cluster without looking at the
// feasible nodes, and notices a node that makes the network mixed.
func TestCensus(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := clientsetfake.NewClientset(plugintest.GPUNode("a", "8", "32Gi", 8), plugintest.GPUNode("b", "8", "32Gi", 8))
	factory := informers.NewSharedInformerFactory(client, 0)
	h, err := frameworkruntime.NewFramework(ctx, nil, nil, frameworkruntime.WithInformerFactory(factory))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := New(ctx, plugintest.Args(t, &configv1.InterconnectArgs{}, &config.InterconnectArgs{}), h)
	if err != nil {
		t.Fatal(err)
	}
	pl := obj.(*Interconnect)
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	eventually(t, "a uniform census", func() bool { return pl.census.knownUniform() })

	// The census answers for the whole cluster: PreScore skips even given nodes it would tell apart.
	plain := plugintest.NodeInfo(plugintest.GPUNode("a", "8", "32Gi", 8))
	ib := plugintest.NodeInfo(plugintest.GPUNode("x", "8", "32Gi", 8, ibLabel, "true"))
	pod := plugintest.GPUPod("p", "1", "1Gi", 1).Obj()
	if s := pl.PreScore(ctx, framework.NewCycleState(), pod, []fwk.NodeInfo{plain, ib}); !s.IsSkip() {
		t.Errorf("PreScore on a uniform cluster = %v, want Skip", s)
	}

	if _, err := client.CoreV1().Nodes().Create(ctx, plugintest.GPUNode("c", "8", "32Gi", 8, ibLabel, "true"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a mixed census", func() bool { return !pl.census.knownUniform() })
	if s := pl.PreScore(ctx, framework.NewCycleState(), pod, []fwk.NodeInfo{plain, ib}); !s.IsSuccess() {
		t.Errorf("PreScore on a mixed cluster = %v, want success (Score tells the nodes apart)", s)
	}
	// Relabelled like the others, then gone: uniform again.
	c := plugintest.GPUNode("c", "8", "32Gi", 8)
	if _, err := client.CoreV1().Nodes().Update(ctx, c, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "uniform after the relabel", func() bool { return pl.census.knownUniform() })
	if err := client.CoreV1().Nodes().Delete(ctx, "c", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the delete", func() bool {
		pl.census.mu.Lock()
		defer pl.census.mu.Unlock()
		return len(pl.census.byNode) == 2
	})
	if !pl.census.knownUniform() {
		t.Error("not uniform after the delete")
	}
}

// Without an informer (gpu-sim) there is no census, and PreScore looks at the nodes.
func TestNoCensusLooksAtTheNodes(t *testing.T) {
	pl := newPlugin(t, &configv1.InterconnectArgs{})
	if pl.census != nil {
		t.Fatal("a census without an informer")
	}
	plain := plugintest.NodeInfo(plugintest.GPUNode("a", "8", "32Gi", 8))
	ib := plugintest.NodeInfo(plugintest.GPUNode("x", "8", "32Gi", 8, ibLabel, "true"))
	pod := plugintest.GPUPod("p", "1", "1Gi", 1).Obj()
	if s := pl.PreScore(context.Background(), framework.NewCycleState(), pod, []fwk.NodeInfo{plain, ib}); !s.IsSuccess() {
		t.Errorf("PreScore on mixed nodes = %v, want success", s)
	}
	if s := pl.PreScore(context.Background(), framework.NewCycleState(), pod, []fwk.NodeInfo{plain, plain}); !s.IsSkip() {
		t.Errorf("PreScore on alike nodes = %v, want Skip", s)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
