package plugins_test

import (
	"context"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	schedcache "k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/parallelize"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/noderesources"
	schedmetrics "k8s.io/kubernetes/pkg/scheduler/metrics"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/plugintest"
)

// 20,000 nodes come and go in waves through kube-scheduler's own cache and snapshot, some deleted
// nodes coming back under their names, while Pods land on the live ones. For each Pod, the plugins
// run as the framework runs them: PreFilter with the snapshot's nodes, then Filter, PreScore and
// Score on every node from kube-scheduler's 16 goroutines. Every verdict of the plugins that cache
// node state across cycles matches that of plugins built afresh for the Pod. Run it with -race too.
func TestVerdictsUnderNodeChurn(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logger := klog.FromContext(ctx)
	schedmetrics.Register() // the cache reports its size
	cache := schedcache.New(ctx, nil, false)
	snapshot := schedcache.NewEmptySnapshot()
	fleet := plugintest.Cluster(20000)
	cached := newPlugins(t, frameworkHandle(t))
	pods := benchPods()
	pods["share-pod"] = plugintest.GPUPod("share", "2", "4Gi", 0).Annotation(gpu.FractionAnnotation, "0.5").Obj()

	const live, wave = 2000, 1000
	var nodes []*v1.Node // live, oldest first
	placed := 0
	for next := 0; next < len(fleet); next += wave {
		var deleted []*v1.Node
		if drop := len(nodes) + wave - live; drop > 0 {
			deleted, nodes = nodes[:drop], nodes[drop:]
			for _, n := range deleted {
				if err := cache.RemoveNode(logger, n); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, ni := range fleet[next : next+wave] {
			cache.AddNode(logger, ni.Node())
			nodes = append(nodes, ni.Node())
			for _, pi := range ni.GetPods() {
				if err := cache.AddPod(logger, pi.GetPod()); err != nil {
					t.Fatal(err)
				}
			}
		}
		// A node deleted and added again: a new NodeInfo in the snapshot under the old name.
		for i := 0; i < len(deleted); i += 10 {
			cache.AddNode(logger, deleted[i])
			nodes = append(nodes, deleted[i])
		}
		for i := next % 7; i < len(nodes); i += 7 {
			placed++
			if err := cache.AddPod(logger, placement(placed, nodes[i].Name)); err != nil {
				t.Fatal(err)
			}
		}
		if err := cache.UpdateSnapshot(logger, snapshot); err != nil {
			t.Fatal(err)
		}
		infos, err := snapshot.NodeInfos().List()
		if err != nil {
			t.Fatal(err)
		}
		for kind, pod := range pods {
			compareVerdicts(t, fmt.Sprintf("nodes %d-%d, %s", next, next+wave, kind), cached, newPlugins(t, nil), pod, infos)
		}
		if t.Failed() {
			return
		}
	}
}

// placement is the nth Pod bound since the nodes came: a whole GPU, a GPU share or CPU only.
func placement(n int, node string) *v1.Pod {
	name := fmt.Sprintf("placed-%d", n)
	switch n % 3 {
	case 0:
		return plugintest.GPUPod(name, "4", "16Gi", 1).Node(node).Obj()
	case 1:
		return plugintest.GPUPod(name, "2", "8Gi", 0).Node(node).
			Annotation(gpu.FractionAnnotation, "0.25").Annotation(gpu.GPUIndexAnnotation, "0").Obj()
	}
	return plugintest.GPUPod(name, "8", "32Gi", 0).Node(node).Obj()
}

// compareVerdicts runs one scheduling cycle for pod with both sets of plugins and fails on the first
// PreFilter, Filter, PreScore or Score result that differs.
func compareVerdicts(t *testing.T, cycle string, cached, fresh map[string]fwk.Plugin, pod *v1.Pod, nodes []fwk.NodeInfo) {
	ctx := context.Background()
	cachedState, freshState := framework.NewCycleState(), framework.NewCycleState()
	for _, name := range sortedNames(cached) {
		if name == noderesources.Name {
			continue // no cache
		}
		cachedPl, freshPl := cached[name], fresh[name]
		verdict := func(what string, got, want *fwk.Status) bool {
			if got.Code() != want.Code() || got.Message() != want.Message() {
				t.Errorf("%s: %s %s: %v with cached node state, %v afresh", cycle, name, what, got, want)
				return false
			}
			return true
		}
		filter, isFilter := cachedPl.(fwk.FilterPlugin)
		if pf, ok := cachedPl.(fwk.PreFilterPlugin); ok {
			_, got := pf.PreFilter(ctx, cachedState, pod, nodes)
			_, want := freshPl.(fwk.PreFilterPlugin).PreFilter(ctx, freshState, pod, nodes)
			if !verdict("PreFilter", got, want) || !want.IsSuccess() {
				isFilter = false
			}
		}
		if isFilter {
			parallelize.NewParallelizer(parallelize.DefaultParallelism).Until(ctx, len(nodes), func(i int) {
				got := filter.Filter(ctx, cachedState, pod, nodes[i])
				want := freshPl.(fwk.FilterPlugin).Filter(ctx, freshState, pod, nodes[i])
				verdict("Filter on "+nodes[i].Node().Name, got, want)
			}, "Filter")
		}
		score, isScore := cachedPl.(fwk.ScorePlugin)
		if ps, ok := cachedPl.(fwk.PreScorePlugin); ok {
			got := ps.PreScore(ctx, cachedState, pod, nodes)
			want := freshPl.(fwk.PreScorePlugin).PreScore(ctx, freshState, pod, nodes)
			if !verdict("PreScore", got, want) || !want.IsSuccess() {
				isScore = false
			}
		}
		if isScore {
			parallelize.NewParallelizer(parallelize.DefaultParallelism).Until(ctx, len(nodes), func(i int) {
				got, gotStatus := score.Score(ctx, cachedState, pod, nodes[i])
				want, wantStatus := freshPl.(fwk.ScorePlugin).Score(ctx, freshState, pod, nodes[i])
				if verdict("Score on "+nodes[i].Node().Name, gotStatus, wantStatus) && got != want {
					t.Errorf("%s: %s Score on %s: %d with cached node state, %d afresh", cycle, name, nodes[i].Node().Name, got, want)
				}
			}, "Score")
		}
	}
}
