package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gpu-scheduler/gpu-scheduler/test/integration/util"
)

// TestLeaderElection runs two replicas on one Lease: only the leader binds; when it is killed the
// other takes the Lease and binds the rest, and never did the two bind at the same time.
func TestLeaderElection(t *testing.T) {
	env := util.NewEnv(t, util.EnvOptions{})
	ns := env.Namespace
	const leaseNS, leaseName = "gpu-scheduler-it", "gpu-scheduler-it"
	env.CreateNamespace(leaseNS)
	env.CreateNodes("gpu", 10, util.NodeSpec{GPUs: 8}) // 80 GPUs
	lease := env.RecordLease(leaseNS, leaseName)

	le := &util.LeaderElection{
		LeaseDuration: "4s", RenewDeadline: "3s", RetryPeriod: "1s",
		ResourceName: leaseName, ResourceNamespace: leaseNS,
	}
	replicas := []*util.Scheduler{
		env.StartScheduler(util.SchedulerOptions{Name: "replica-a", LeaderElection: le, QPS: 500, Burst: 1000}),
		env.StartScheduler(util.SchedulerOptions{Name: "replica-b", LeaderElection: le, QPS: 500, Burst: 1000}),
	}
	// client-go's leader election logs this once the lease is the replica's.
	const acquired = `"Successfully acquired lease" lock="` + leaseNS + "/" + leaseName + `"`
	var leader, follower *util.Scheduler
	env.Wait("one replica to acquire the lease", time.Minute, func(context.Context) (bool, error) {
		if err := util.AliveCheck(replicas...); err != nil {
			return false, err
		}
		a, b := replicas[0].LineOffset(acquired) >= 0, replicas[1].LineOffset(acquired) >= 0
		switch {
		case a && b:
			return false, fmt.Errorf("both replicas acquired the lease")
		case a:
			leader, follower = replicas[0], replicas[1]
		case b:
			leader, follower = replicas[1], replicas[0]
		}
		return leader != nil && lease.Holder() != "", nil
	}, nil)
	firstHolder := lease.Holder()
	t.Logf("%s leads as %s", leader.Name, firstHolder)

	// Wave 1: the leader binds all of it, the follower nothing.
	env.CreatePods(onePerGPU(ns, "wave1", 40), 4)
	env.WaitBoundCount(ns, 40, bindTimeout, replicas...)
	env.Wait("the leader to log 40 bindings", 30*time.Second, func(context.Context) (bool, error) {
		return len(leader.Bindings()) == 40, nil
	}, func() string { return fmt.Sprintf("%d logged", len(leader.Bindings())) })
	if n := len(follower.Bindings()); n != 0 {
		t.Fatalf("follower %s bound %d pods while %s led", follower.Name, n, leader.Name)
	}

	// Kill the leader; from here on only the follower may bind.
	if err := leader.Kill(); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	killOffset := follower.LogSize()
	if got := follower.LineOffset(acquired); got >= 0 {
		t.Fatalf("follower acquired the lease before the leader died (log offset %d)", got)
	}

	// Wave 2: 50 more, 40 of which fit; the follower takes over and binds them.
	env.CreatePods(onePerGPU(ns, "wave2", 50), 4)
	pods := env.WaitBoundCount(ns, 80, 2*time.Minute, follower)
	t.Logf("follower bound the rest %v after the leader was killed", time.Since(killedAt).Round(time.Millisecond))
	env.RequireGPUAccounting()
	requireInsufficientGPUs(t, env, 10, follower)

	if off := follower.LineOffset(acquired); off < killOffset {
		t.Errorf("follower acquired the lease at log offset %d, before the leader was killed (offset %d)", off, killOffset)
	}
	binder := map[string]util.Binding{}
	owner := map[string]string{}
	for _, s := range replicas {
		for _, b := range s.Bindings() {
			if s == follower && b.Offset < killOffset {
				t.Errorf("follower bound %s before the leader was killed", b.Pod)
			}
			if prev, dup := owner[b.Pod]; dup {
				t.Errorf("pod %s bound by both %s and %s", b.Pod, prev, s.Name)
			}
			binder[b.Pod], owner[b.Pod] = b, s.Name
		}
	}
	for _, p := range pods {
		key := p.Namespace + "/" + p.Name
		b, ok := binder[key]
		switch {
		case p.Spec.NodeName == "" && ok:
			t.Errorf("pod %s logged as bound to %s by %s but is unbound", key, b.Node, owner[key])
		case p.Spec.NodeName == "":
		case !ok:
			t.Errorf("pod %s bound to %s, but no replica logged binding it", key, p.Spec.NodeName)
		case b.Node != p.Spec.NodeName:
			t.Errorf("pod %s: %s logged node %s, the API says %s", key, owner[key], b.Node, p.Spec.NodeName)
		}
	}
	if n := len(follower.Bindings()); n != 40 {
		t.Errorf("follower logged %d bindings, want the 40 of wave 2 that fit", n)
	}

	// The Lease went from the leader to the follower once, after the kill.
	changes := lease.Changes()
	if len(changes) != 2 || changes[0].Holder != firstHolder || changes[1].Holder == firstHolder {
		t.Fatalf("lease holders over time: %+v; want %s, then the follower", changes, firstHolder)
	}
	if changes[1].At.Before(killedAt) {
		t.Errorf("lease changed hands at %v, before the leader was killed at %v", changes[1].At, killedAt)
	}
	t.Logf("lease moved to %s %v after the kill", changes[1].Holder, changes[1].At.Sub(killedAt).Round(time.Millisecond))
}
