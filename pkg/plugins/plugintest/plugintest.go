// Package plugintest drives a plugin the way the scheduling framework does (PreFilter then Filter,
// PreScore then Score then NormalizeScore), for table-driven tests and benchmarks.
package plugintest

import (
	"context"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
)

// NodeInfo returns the scheduler's view of node with pods assigned to it.
func NodeInfo(node *v1.Node, pods ...*v1.Pod) fwk.NodeInfo {
	ni := framework.NewNodeInfo(pods...)
	ni.SetNode(node)
	return ni
}

// Filter runs PreFilter and, unless it rejected the Pod or skipped, Filter on one node. It returns the
// first non-success status, or nil when the node passes.
func Filter(t testing.TB, pl fwk.Plugin, pod *v1.Pod, nodeInfo fwk.NodeInfo) *fwk.Status {
	t.Helper()
	state := framework.NewCycleState()
	if pf, ok := pl.(fwk.PreFilterPlugin); ok {
		_, status := pf.PreFilter(context.Background(), state, pod, []fwk.NodeInfo{nodeInfo})
		if status.IsSkip() {
			return nil
		}
		if !status.IsSuccess() {
			return status
		}
	}
	return pl.(fwk.FilterPlugin).Filter(context.Background(), state, pod, nodeInfo)
}

// Score runs PreScore, Score on every node and NormalizeScore, and returns the final scores in node
// order; nil when PreScore skipped Score (as the framework then does: every node scores the same).
func Score(t testing.TB, pl fwk.Plugin, pod *v1.Pod, nodeInfos []fwk.NodeInfo) []int64 {
	t.Helper()
	ctx := context.Background()
	state := framework.NewCycleState()
	if ps, ok := pl.(fwk.PreScorePlugin); ok {
		status := ps.PreScore(ctx, state, pod, nodeInfos)
		if status.IsSkip() {
			return nil
		}
		if !status.IsSuccess() {
			t.Fatalf("PreScore: %v", status)
		}
	}
	scorer := pl.(fwk.ScorePlugin)
	scores := make(fwk.NodeScoreList, len(nodeInfos))
	for i, ni := range nodeInfos {
		s, status := scorer.Score(ctx, state, pod, ni)
		if !status.IsSuccess() {
			t.Fatalf("Score on %s: %v", ni.Node().Name, status)
		}
		scores[i] = fwk.NodeScore{Name: ni.Node().Name, Score: s}
	}
	if ext := scorer.ScoreExtensions(); ext != nil {
		if status := ext.NormalizeScore(ctx, state, pod, scores); !status.IsSuccess() {
			t.Fatalf("NormalizeScore: %v", status)
		}
	}
	out := make([]int64, len(scores))
	for i, s := range scores {
		if s.Score < 0 || s.Score > fwk.MaxNodeScore {
			t.Fatalf("score %d for %s is outside [0, %d]", s.Score, s.Name, fwk.MaxNodeScore)
		}
		out[i] = s.Score
	}
	return out
}

// GPUNode is a node with the given CPU, memory and GPUs; extra labels come in key, value pairs.
func GPUNode(name, cpu, memory string, gpus int, labels ...string) *v1.Node {
	res := map[v1.ResourceName]string{v1.ResourceCPU: cpu, v1.ResourceMemory: memory, v1.ResourcePods: "110"}
	if gpus > 0 {
		res[gpu.ResourceName] = fmt.Sprint(gpus)
	}
	n := st.MakeNode().Name(name).Capacity(res)
	for i := 0; i+1 < len(labels); i += 2 {
		n.Label(labels[i], labels[i+1])
	}
	return n.Obj()
}

// GPUPod is a one-container Pod requesting CPU, memory and GPUs (0 for none).
func GPUPod(name, cpu, memory string, gpus int) *st.PodWrapper {
	req := map[v1.ResourceName]string{v1.ResourceCPU: cpu, v1.ResourceMemory: memory}
	if gpus > 0 {
		req[gpu.ResourceName] = fmt.Sprint(gpus)
	}
	return st.MakePod().Name(name).Namespace("default").UID(name).Req(req)
}

// Cluster is n nodes shaped like a production GPU fleet (8-GPU, 4-GPU, 2-GPU and CPU-only nodes, in
// rotation), each with a few Pods already on it, for benchmarks at scale.
func Cluster(n int) []fwk.NodeInfo {
	out := make([]fwk.NodeInfo, n)
	for i := range out {
		name := fmt.Sprintf("node-%05d", i)
		var node *v1.Node
		var pods []*v1.Pod
		switch i % 4 {
		case 0:
			node = GPUNode(name, "96", "768Gi", 8, gpu.DefaultModelLabel, "NVIDIA-H100-80GB-HBM3", gpu.InterconnectLabelPrefix+"infiniband", "true")
			pods = append(pods, GPUPod(name+"-a", "24", "128Gi", 2).Node(name).Obj(), GPUPod(name+"-b", "12", "64Gi", 1).Node(name).Obj())
		case 1:
			node = GPUNode(name, "64", "512Gi", 4, gpu.DefaultModelLabel, "NVIDIA-A100-SXM4-80GB")
			pods = append(pods, GPUPod(name+"-a", "16", "64Gi", 1).Node(name).Obj())
		case 2:
			node = GPUNode(name, "32", "128Gi", 2, gpu.DefaultModelLabel, "Tesla-T4")
		default:
			node = GPUNode(name, "32", "128Gi", 0)
			pods = append(pods, GPUPod(name+"-a", "4", "8Gi", 0).Node(name).Obj())
		}
		out[i] = NodeInfo(node, pods...)
	}
	return out
}

// Handle is a framework handle serving snapshot, as the scheduler's is during a cycle.
func Handle(snapshot fwk.SharedLister) (fwk.Handle, error) {
	return frameworkruntime.NewFramework(context.Background(), nil, nil, frameworkruntime.WithSnapshotSharedLister(snapshot))
}
