package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gpu-scheduler/gpu-scheduler/test/integration/util"
)

// TestGPUSharing: half-GPU Pods (gpu-fraction: "0.5") share a GPU, recorded in the API as the
// gpu-index annotation; a whole GPU does not fit once both GPUs hold shares; a restarted scheduler
// rebuilds its per-GPU accounting from the annotations and fills the remaining half, double-booking
// nothing.
func TestGPUSharing(t *testing.T) {
	env := util.NewEnv(t, util.EnvOptions{})
	ns := env.Namespace
	env.CreateNode(util.NodeSpec{Name: "gpu-0", GPUs: 2})
	sched := env.StartScheduler(util.SchedulerOptions{Name: "first"})

	// bindShare creates a half-GPU Pod, waits for it to be bound to gpu-0 and returns its GPU index.
	bindShare := func(name string, scheds ...*util.Scheduler) string {
		t.Helper()
		env.CreatePod(util.SharePod(ns, name, "0.5"))
		if node := env.WaitPodBound(ns, name, bindTimeout, scheds...); node != "gpu-0" {
			t.Fatalf("%s bound to %s, want gpu-0", name, node)
		}
		p := env.GetPod(ns, name)
		idx, ok := p.Annotations[util.GPUIndexAnnotation]
		if !ok {
			t.Fatalf("bound share pod %s has no %s annotation; annotations %v", name, util.GPUIndexAnnotation, p.Annotations)
		}
		if idx != "0" && idx != "1" {
			t.Fatalf("%s: %s=%q, want 0 or 1", name, util.GPUIndexAnnotation, idx)
		}
		if util.PodGPUs(p) != 0 {
			t.Fatalf("%s requests %d whole GPUs, want none", name, util.PodGPUs(p))
		}
		return idx
	}

	a := bindShare("half-a", sched)
	b := bindShare("half-b", sched)
	if a != b {
		t.Errorf("half-a on GPU %s, half-b on GPU %s: two halves should share one GPU", a, b)
	}
	c := bindShare("half-c", sched)
	if c == a {
		t.Errorf("half-c on GPU %s, which half-a and half-b already fill", c)
	}
	env.RequireGPUAccounting()

	// Both GPUs hold shares: no whole GPU is free.
	env.CreatePod(util.GPUPod(ns, "whole", 1))
	msg := env.WaitFailedScheduling(ns, "whole", "Insufficient free GPUs", eventTimeout, sched)
	if !strings.Contains(msg, "1 Insufficient free GPUs") {
		t.Errorf("FailedScheduling message %q, want 1 Insufficient free GPUs", msg)
	}
	if p := env.GetPod(ns, "whole"); p.Spec.NodeName != "" {
		t.Fatalf("whole bound to %s while both GPUs hold shares", p.Spec.NodeName)
	}

	// Restart: the new scheduler knows the shares only from the API.
	if err := sched.Stop(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	second := env.StartScheduler(util.SchedulerOptions{Name: "second"})
	// It retries the pending whole-GPU Pod first thing, and still finds no free GPU.
	env.Wait("the restarted scheduler to try the whole-GPU pod", eventTimeout, func(context.Context) (bool, error) {
		return second.LineOffset(`"Unable to schedule pod; no fit; waiting" pod="`+ns+`/whole"`) >= 0, util.AliveCheck(second)
	}, func() string { return "not in its log yet" })
	d := bindShare("half-d", second)
	if d != c {
		t.Errorf("half-d on GPU %s, want GPU %s where half-c left half a GPU free", d, c)
	}
	env.RequireGPUAccounting()
	if p := env.GetPod(ns, "whole"); p.Spec.NodeName != "" {
		t.Errorf("whole bound to %s after the restart: the shares were forgotten", p.Spec.NodeName)
	}

	// Full now: another half does not fit anywhere.
	env.CreatePod(util.SharePod(ns, "half-e", "0.5"))
	env.WaitFailedScheduling(ns, "half-e", "Insufficient free GPU share", eventTimeout, second)
	env.RequireGPUAccounting()
	for _, name := range []string{"half-a", "half-b", "half-c", "half-d"} {
		p := env.GetPod(ns, name)
		t.Logf("%s: node %s, GPU %s", name, p.Spec.NodeName, p.Annotations[util.GPUIndexAnnotation])
	}
}
