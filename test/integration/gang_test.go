package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/gpu-scheduler/gpu-scheduler/test/integration/util"
)

// Gangs: PodGroups (scheduler-plugins' Coscheduling, all or nothing) kept inside one InfiniBand
// fabric by Interconnect's topology levels (config/scheduler-config.yaml).

const (
	// gangBindTimeout covers a whole gang: its members wait at Permit until the last one is placed.
	gangBindTimeout = 90 * time.Second
	// partialGrace is how long a gang may be seen partly bound: the binding calls of a permitted gang
	// run concurrently, so a look may fall between two of them.
	partialGrace = 3 * time.Second
	// gangRequeueTimeout bounds the wait for a gang rejected by Interconnect's PreFilter (no domain
	// has room) once a deletion or a new node frees room: Interconnect's queueing hints requeue it.
	gangRequeueTimeout = gangBindTimeout
	// requeueSlow is the wait after freeing room past which the gang must have waited for
	// kube-scheduler's periodic flush of unschedulable Pods (5 minutes) instead of being requeued by
	// the event: a failure.
	requeueSlow = 60 * time.Second
)

// fabricNodes creates 8-GPU nodes <fabric>-<i> in fabric, perLeaf per InfiniBand leaf, and returns
// their names.
func fabricNodes(env *util.Env, fabric string, count, perLeaf int) []string {
	var names []string
	for i := 0; i < count; i++ {
		name := fmt.Sprintf("%s-%d", fabric, i)
		env.CreateNode(util.NodeSpec{Name: name, GPUs: 8, Labels: map[string]string{
			util.IBFabricLabel:   fabric,
			util.IBLeafLabel:     fmt.Sprintf("%s-leaf%d", fabric, i/perLeaf),
			util.InfiniBandLabel: "true",
		}})
		names = append(names, name)
	}
	return names
}

// createGang creates the PodGroup (minMember n) and its n members of gpus GPUs with annotations.
func createGang(env *util.Env, group string, n int, gpus int64, annotations map[string]string) {
	env.CreatePodGroup(env.Namespace, group, n)
	env.CreatePods(util.GangPods(env.Namespace, group, n, gpus, annotations), n)
}

// requireFabric is the annotation that keeps a gang inside one InfiniBand fabric.
var requireFabric = map[string]string{util.TopologyRequiredAnnotation: "ib-fabric"}

// logRequeue logs how long a gang waited after room was freed, and whether that was the flush of
// unschedulable Pods rather than a requeue by the freeing event.
func logRequeue(t *testing.T, group string, nodes []string, waited time.Duration, how string) {
	t.Helper()
	t.Logf("gang %s bound on %v %v after %s", group, nodes, waited.Round(time.Millisecond), how)
	if waited > requeueSlow {
		t.Errorf("gang %s waited %v after %s: the event did not requeue it", group, waited.Round(time.Second), how)
	}
}

// waitGangBound waits until all n members of group are bound and returns their nodes.
func waitGangBound(t *testing.T, env *util.Env, group string, n int, timeout time.Duration, sched *util.Scheduler) []string {
	t.Helper()
	var bound map[string]int
	env.Wait(fmt.Sprintf("the %d members of gang %s to be bound", n, group), timeout, func(ctx context.Context) (bool, error) {
		if err := util.AliveCheck(sched); err != nil {
			return false, err
		}
		var err error
		if bound, err = env.BoundByGroup(ctx, env.Namespace); err != nil {
			return false, nil
		}
		return bound[group] == n, nil
	}, func() string {
		return fmt.Sprintf("bound by group %v; %s-0 events: %v", bound, group, env.FailedSchedulingByPod(env.Namespace)[group+"-0"])
	})
	return env.NodesOf(env.Namespace, group)
}

// fabricOf maps node names to their fabric (names are <fabric>-<i>).
func fabricOf(node string) string {
	if i := strings.LastIndex(node, "-"); i > 0 {
		return node[:i]
	}
	return node
}

// requireOneFabric checks the nodes are distinct (8 GPUs each: one member per node) and all in want.
func requireOneFabric(t *testing.T, group string, nodes []string, want string) {
	t.Helper()
	seen := map[string]bool{}
	for _, n := range nodes {
		if fabricOf(n) != want {
			t.Errorf("gang %s on %v: %s is outside fabric %s", group, nodes, n, want)
		}
		if seen[n] {
			t.Errorf("gang %s on %v: two 8-GPU members on %s", group, nodes, n)
		}
		seen[n] = true
	}
}

// TestGangInsideOneFabric: a 4 x 8-GPU gang requiring one InfiniBand fabric lands in the fabric that
// holds it (4 nodes, two leaves), not in the smaller fabric listed first (2 nodes), though together
// they would hold it with room to spare.
func TestGangInsideOneFabric(t *testing.T) {
	env := util.NewEnv(t, util.EnvOptions{})
	env.InstallPodGroupCRD()
	fabricNodes(env, "fab-a", 2, 2)
	fabricNodes(env, "fab-b", 4, 2)
	sched := env.StartScheduler(util.SchedulerOptions{})
	watch := env.WatchGangs(env.Namespace, map[string]int{"train": 4}, partialGrace)

	createGang(env, "train", 4, 8, requireFabric)
	nodes := waitGangBound(t, env, "train", 4, gangBindTimeout, sched)
	requireOneFabric(t, "train", nodes, "fab-b")
	looks, partial := watch.Check()
	t.Logf("gang train on %v (%d looks at the bound count, %d saw it partial)", nodes, looks, partial)
	env.RequireGPUAccounting()
}

// TestGangWaitsForRoom: when no fabric can hold the gang it stays Pending with nothing bound (all or
// nothing) and a FailedScheduling event saying why, though the cluster has room for it across
// fabrics; once a fabric has room (a Pod occupying it is deleted) the whole gang is placed there.
func TestGangWaitsForRoom(t *testing.T) {
	env := util.NewEnv(t, util.EnvOptions{})
	ns := env.Namespace
	env.InstallPodGroupCRD()
	fabricNodes(env, "fab-a", 3, 2)
	fabB := fabricNodes(env, "fab-b", 4, 2)
	env.CreatePod(occupant(ns, "occupant", fabB[1], 8)) // fab-b: 3 free nodes, fab-a: 3
	sched := env.StartScheduler(util.SchedulerOptions{})
	watch := env.WatchGangs(ns, map[string]int{"train": 4}, partialGrace)

	createGang(env, "train", 4, 8, requireFabric)
	msg := env.WaitFailedScheduling(ns, "train-0", "no ib-fabric domain has room", eventTimeout, sched)
	for _, want := range []string{
		"no ib-fabric domain has room for the whole gang train (4 more pods of 8 GPUs)",
		"gang " + ns + "/train: 0 of 4 members placed, waiting for 4",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("FailedScheduling message %q does not contain %q", msg, want)
		}
	}
	t.Logf("FailedScheduling: %s", msg)
	members := []string{"train-0", "train-1", "train-2", "train-3"}
	env.ConsistentlyUnbound(ns, members, 5*time.Second)
	if err := util.AliveCheck(sched); err != nil {
		t.Fatal(err)
	}

	// Room in fab-b: the gang goes there, all of it.
	freed := time.Now()
	env.DeletePodNow(ns, "occupant")
	nodes := waitGangBound(t, env, "train", 4, gangRequeueTimeout, sched)
	logRequeue(t, "train", nodes, time.Since(freed), "the occupant's deletion")
	looks, partial := watch.Check()
	t.Logf("%d looks at the gang's bound count, %d saw it partial (bindings in flight)", looks, partial)
	requireOneFabric(t, "train", nodes, "fab-b")
	env.RequireGPUAccounting()
}

// TestGangWaitsForNewNode: as TestGangWaitsForRoom, the room coming from a node added to a fabric.
// The members also require InfiniBand (gpu-scheduler.io/interconnect), which makes the new node an
// event Interconnect requeues them for.
func TestGangWaitsForNewNode(t *testing.T) {
	env := util.NewEnv(t, util.EnvOptions{})
	ns := env.Namespace
	env.InstallPodGroupCRD()
	fabricNodes(env, "fab-a", 3, 2)
	fabricNodes(env, "fab-b", 3, 2)
	sched := env.StartScheduler(util.SchedulerOptions{})
	watch := env.WatchGangs(ns, map[string]int{"train": 4}, partialGrace)

	createGang(env, "train", 4, 8, map[string]string{util.TopologyRequiredAnnotation: "ib-fabric", util.InterconnectAnnotation: "infiniband"})
	env.WaitFailedScheduling(ns, "train-0", "no ib-fabric domain has room for the whole gang train", eventTimeout, sched)
	env.ConsistentlyUnbound(ns, []string{"train-0", "train-1", "train-2", "train-3"}, 3*time.Second)

	added := time.Now()
	env.CreateNode(util.NodeSpec{Name: "fab-a-3", GPUs: 8, Labels: map[string]string{
		util.IBFabricLabel: "fab-a", util.IBLeafLabel: "fab-a-leaf1", util.InfiniBandLabel: "true"}})
	nodes := waitGangBound(t, env, "train", 4, gangBindTimeout, sched)
	logRequeue(t, "train", nodes, time.Since(added), "a node was added to fab-a")
	looks, partial := watch.Check()
	t.Logf("%d looks at the gang's bound count, %d saw it partial (bindings in flight)", looks, partial)
	requireOneFabric(t, "train", nodes, "fab-a")
	env.RequireGPUAccounting()
}

// TestGangsCompeteForOneFabric: two 4 x 8-GPU gangs want the one fabric that holds either but not
// both. One is placed whole, the other waits with nothing bound; when the first one's Pods are
// deleted the second is placed whole. At no time is a gang partly bound (beyond the moment its
// concurrent bindings take), and nothing deadlocks.
func TestGangsCompeteForOneFabric(t *testing.T) {
	env := util.NewEnv(t, util.EnvOptions{})
	ns := env.Namespace
	env.InstallPodGroupCRD()
	fabricNodes(env, "fab-a", 2, 2) // too small for either gang
	fabricNodes(env, "fab-b", 5, 2) // either gang, not both
	sched := env.StartScheduler(util.SchedulerOptions{})
	watch := env.WatchGangs(ns, map[string]int{"blue": 4, "green": 4}, partialGrace)

	env.CreatePodGroup(ns, "blue", 4)
	env.CreatePodGroup(ns, "green", 4)
	blue := util.GangPods(ns, "blue", 4, 8, requireFabric)
	green := util.GangPods(ns, "green", 4, 8, requireFabric)
	var all []*corev1.Pod
	for i := range blue {
		all = append(all, green[i], blue[i])
	}
	env.CreatePods(all, 8)

	var bound map[string]int
	env.Wait("one gang to be bound whole", gangBindTimeout, func(ctx context.Context) (bool, error) {
		if err := util.AliveCheck(sched); err != nil {
			return false, err
		}
		var err error
		if bound, err = env.BoundByGroup(ctx, ns); err != nil {
			return false, nil
		}
		return bound["blue"] == 4 || bound["green"] == 4, nil
	}, func() string { return fmt.Sprintf("bound by group %v", bound) })
	first, second := "blue", "green"
	if bound["green"] == 4 {
		first, second = "green", "blue"
	}
	requireOneFabric(t, first, env.NodesOf(ns, first), "fab-b")
	env.Consistently(second+" stays wholly unbound while "+first+" holds the fabric", 5*time.Second,
		func(ctx context.Context) (bool, string, error) {
			b, err := env.BoundByGroup(ctx, ns)
			if err != nil {
				return false, "", err
			}
			return b[second] == 0 && b[first] == 4, fmt.Sprintf("bound by group %v", b), nil
		})
	msgs := env.FailedSchedulingByPod(ns)
	t.Logf("%s placed first on %v; %s-0 FailedScheduling: %v", first, env.NodesOf(ns, first), second, msgs[second+"-0"])

	watch.Retire(first)
	freed := time.Now()
	env.DeleteGroupPods(ns, first)
	nodes := waitGangBound(t, env, second, 4, gangRequeueTimeout, sched)
	logRequeue(t, second, nodes, time.Since(freed), "the deletion of "+first+"'s pods")
	looks, partial := watch.Check()
	t.Logf("%d looks at the gangs' bound counts, %d saw one partial (bindings in flight)", looks, partial)
	requireOneFabric(t, second, nodes, "fab-b")
	env.RequireGPUAccounting()
}
