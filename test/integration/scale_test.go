package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gpu-scheduler/gpu-scheduler/test/integration/util"
)

// onePerGPU returns n one-GPU Pods named <prefix>-<i>.
func onePerGPU(namespace, prefix string, n int) []*corev1.Pod {
	pods := make([]*corev1.Pod, n)
	for i := range pods {
		pods[i] = util.GPUPod(namespace, fmt.Sprintf("%s-%03d", prefix, i), 1)
	}
	return pods
}

// requireInsufficientGPUs waits until every unbound Pod of the namespace has a FailedScheduling event
// saying "Insufficient free GPUs".
func requireInsufficientGPUs(t *testing.T, env *util.Env, want int, scheds ...*util.Scheduler) {
	t.Helper()
	var missing []string
	env.Wait(fmt.Sprintf("FailedScheduling \"Insufficient free GPUs\" on each of the %d pending pods", want), eventTimeout,
		func(context.Context) (bool, error) {
			if err := util.AliveCheck(scheds...); err != nil {
				return false, err
			}
			_, unbound := util.Split(env.ListPods(env.Namespace))
			if len(unbound) != want {
				return false, fmt.Errorf("%d pods pending, want %d", len(unbound), want)
			}
			events := env.FailedSchedulingByPod(env.Namespace)
			missing = missing[:0]
			for _, p := range unbound {
				found := false
				for _, msg := range events[p.Name] {
					found = found || strings.Contains(msg, "Insufficient free GPUs")
				}
				if !found {
					missing = append(missing, p.Name)
				}
			}
			return len(missing) == 0, nil
		}, func() string {
			return fmt.Sprintf("%d pods without the event, e.g. %v", len(missing), missing[:min(5, len(missing))])
		})
}

// TestBurst: 500 one-GPU Pods at once on 50 nodes x 8 GPUs: exactly 400 bind, no node is
// overcommitted (from the API), and the other 100 stay Pending saying why.
func TestBurst(t *testing.T) {
	env := util.NewEnv(t, util.EnvOptions{})
	env.CreateNodes("gpu", 50, util.NodeSpec{GPUs: 8})
	sched := env.StartScheduler(util.SchedulerOptions{QPS: 1000, Burst: 2000})

	start := time.Now()
	env.CreatePods(onePerGPU(env.Namespace, "burst", 500), 8)
	env.WaitBoundCount(env.Namespace, 400, 3*time.Minute, sched)
	t.Logf("400 pods bound %v after the burst began", time.Since(start).Round(time.Millisecond))
	env.RequireGPUAccounting()
	requireInsufficientGPUs(t, env, 100, sched)

	// Nothing changed meanwhile: still exactly 400 bound, 8 per node.
	bound, _ := util.Split(env.ListPods(env.Namespace))
	if len(bound) != 400 {
		t.Fatalf("%d pods bound, want 400", len(bound))
	}
	perNode := map[string]int{}
	for _, p := range bound {
		perNode[p.Spec.NodeName]++
	}
	for node, n := range perNode {
		if n != 8 {
			t.Errorf("node %s holds %d one-GPU pods, want 8", node, n)
		}
	}
	if len(perNode) != 50 {
		t.Errorf("pods bound on %d nodes, want 50", len(perNode))
	}
}

// TestRestartMidBurst: the scheduler is killed (SIGKILL) while binding a burst; a new one binds every
// Pod that fits, with no node overcommitted and no Pod lost.
func TestRestartMidBurst(t *testing.T) {
	env := util.NewEnv(t, util.EnvOptions{})
	ns := env.Namespace
	env.CreateNodes("gpu", 30, util.NodeSpec{GPUs: 8})
	env.CreatePods(onePerGPU(ns, "burst", 300), 8)

	// A slow client (20 requests/s) so binding 240 Pods takes over 10 s and the kill lands mid-way.
	first := env.StartScheduler(util.SchedulerOptions{Name: "first", QPS: 20, Burst: 20})
	var bound int
	env.Wait("the first scheduler to bind 60 pods", 2*time.Minute, func(ctx context.Context) (bool, error) {
		if err := util.AliveCheck(first); err != nil {
			return false, err
		}
		list, err := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		b, _ := util.Split(list.Items)
		bound = len(b)
		return bound >= 60, nil
	}, func() string { return fmt.Sprintf("%d bound", bound) })
	if err := first.Kill(); err != nil {
		t.Fatal(err)
	}
	b, _ := util.Split(env.ListPods(ns))
	if len(b) == 0 || len(b) >= 240 {
		t.Fatalf("%d pods bound when the first scheduler was killed; want some but not all of 240", len(b))
	}
	t.Logf("killed the first scheduler with %d of 240 pods bound (%d logged)", len(b), len(first.Bindings()))
	env.RequireGPUAccounting()

	second := env.StartScheduler(util.SchedulerOptions{Name: "second", QPS: 1000, Burst: 2000})
	pods := env.WaitBoundCount(ns, 240, 2*time.Minute, second)
	if len(pods) != 300 {
		t.Errorf("%d pods exist, want all 300", len(pods))
	}
	env.RequireGPUAccounting()
	requireInsufficientGPUs(t, env, 60, second)

	// Each bound Pod was bound once, by one of the two.
	byPod := map[string]string{}
	for _, s := range []*util.Scheduler{first, second} {
		for _, bnd := range s.Bindings() {
			if prev, dup := byPod[bnd.Pod]; dup {
				t.Errorf("pod %s bound twice: by %s and %s", bnd.Pod, prev, s.Name)
			}
			byPod[bnd.Pod] = s.Name
		}
	}
	if n := len(second.Bindings()); n == 0 || n+len(b) < 240 {
		t.Errorf("second scheduler logged %d bindings; %d were bound before it started, want the remaining %d",
			n, len(b), 240-len(b))
	}
}
