package integration

import (
	"testing"

	"github.com/gpu-scheduler/gpu-scheduler/test/integration/util"
)

// TestOpportunisticBatching: on one-GPU nodes, of two identical one-GPU Pods scheduled one after the
// other the second is placed from the first's scores (kube-scheduler's batching hint: the first's
// node is full for it). Shares and gang members in the same position get no hint: a share's GPU and
// a gang's plan come from their own cycle.
func TestOpportunisticBatching(t *testing.T) {
	env := util.NewEnv(t, util.EnvOptions{})
	ns := env.Namespace
	env.CreateNodes("gpu", 8, util.NodeSpec{GPUs: 1})
	sched := env.StartScheduler(util.SchedulerOptions{Name: "batching", Verbosity: 3})

	// Each pair is created back to back, so its Pods are scheduled in consecutive cycles, and the
	// first of each pair leaves its node without room for the second.
	env.CreatePod(util.GPUPod(ns, "whole-a", 1))
	env.CreatePod(util.GPUPod(ns, "whole-b", 1))
	env.WaitPodBound(ns, "whole-a", bindTimeout, sched)
	env.WaitPodBound(ns, "whole-b", bindTimeout, sched)

	env.CreatePod(util.SharePod(ns, "share-a", "0.6"))
	env.CreatePod(util.SharePod(ns, "share-b", "0.6"))
	env.WaitPodBound(ns, "share-a", bindTimeout, sched)
	env.WaitPodBound(ns, "share-b", bindTimeout, sched)

	env.CreatePodGroup(ns, "gang", 2)
	for _, p := range util.GangPods(ns, "gang", 2, 1, nil) {
		env.CreatePod(p)
	}
	env.WaitPodBound(ns, "gang-0", bindTimeout, sched)
	env.WaitPodBound(ns, "gang-1", bindTimeout, sched)

	hints := sched.BatchHints()
	if len(hints) != 1 || (hints[0].Pod != ns+"/whole-a" && hints[0].Pod != ns+"/whole-b") {
		t.Fatalf("batching hints %+v, want one, for the second of whole-a and whole-b", hints)
	}
	if got := env.GetPod(ns, hints[0].Pod[len(ns)+1:]).Spec.NodeName; got != hints[0].Node {
		t.Errorf("%s bound to %s, hinted %s", hints[0].Pod, got, hints[0].Node)
	}
	// Every node has one GPU, and no two of these Pods fit on one (two 0.6 shares do not either).
	byNode := map[string][]string{}
	for _, p := range env.ListPods(ns) {
		byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], p.Name)
	}
	for node, pods := range byNode {
		if len(pods) > 1 {
			t.Errorf("node %s (one GPU) holds %v", node, pods)
		}
	}
}
