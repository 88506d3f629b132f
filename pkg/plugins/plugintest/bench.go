package plugintest

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
)

// BenchFilter measures Filter per node: PreFilter once, as the framework does per Pod, then one
// Filter call per op, cycling through nodes.
func BenchFilter(b *testing.B, pl fwk.Plugin, pod *v1.Pod, nodes []fwk.NodeInfo) {
	ctx := context.Background()
	state := framework.NewCycleState()
	if pf, ok := pl.(fwk.PreFilterPlugin); ok {
		_, status := pf.PreFilter(ctx, state, pod, nodes)
		if status.IsSkip() {
			b.Skipf("%s skips Filter for this pod", pl.Name())
		}
		if !status.IsSuccess() {
			b.Fatalf("PreFilter: %v", status)
		}
	}
	filter := pl.(fwk.FilterPlugin)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		filter.Filter(ctx, state, pod, nodes[i%len(nodes)])
	}
}

// BenchScore measures Score per node: PreScore once per Pod, then one Score call per op.
func BenchScore(b *testing.B, pl fwk.Plugin, pod *v1.Pod, nodes []fwk.NodeInfo) {
	ctx := context.Background()
	state := framework.NewCycleState()
	if ps, ok := pl.(fwk.PreScorePlugin); ok {
		status := ps.PreScore(ctx, state, pod, nodes)
		if status.IsSkip() {
			b.Skipf("%s skips Score for this pod on these nodes", pl.Name())
		}
		if !status.IsSuccess() {
			b.Fatalf("PreScore: %v", status)
		}
	}
	scorer := pl.(fwk.ScorePlugin)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, status := scorer.Score(ctx, state, pod, nodes[i%len(nodes)]); !status.IsSuccess() {
			b.Fatalf("Score: %v", status)
		}
	}
}
