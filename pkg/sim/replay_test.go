package sim

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/gpufit"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim/trace"
)

func replayCluster(t *testing.T, yaml string) trace.Cluster {
	t.Helper()
	cluster, err := trace.ReadClusterYAML(strings.NewReader(yaml), "cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cluster
}

func replayPods(t *testing.T, yaml string) []trace.Pod {
	t.Helper()
	pods, err := trace.ReadWorkloadYAML(strings.NewReader(yaml), "workload.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return pods
}

func replay(t *testing.T, profile string, nodes trace.Cluster, pods []trace.Pod, opts ReplayOptions) *ReplayResult {
	t.Helper()
	p, err := BaselineProfile(profile)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Replay(context.Background(), p, nodes, pods, 42, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

const oneGPU = `nodes:
- {name: n, cpu: "8", memory: 32Gi, gpus: 1}
`

// The known answer: one GPU, a pod holding it from 0 to 10, a second arriving at 1 waits 9 s.
func TestReplayQueueingDelay(t *testing.T) {
	res := replay(t, "default", replayCluster(t, oneGPU), replayPods(t, `pods:
- {name: a, cpu: "1", memory: 1Gi, gpus: 1, createdAt: 0, deletedAt: 10}
- {name: b, cpu: "1", memory: 1Gi, gpus: 1, createdAt: 1}
`), ReplayOptions{})
	if res.PodsScheduled != 2 || res.PodsNeverPlaced != 0 || res.PodsDelayed != 1 {
		t.Errorf("placed %d, never %d, delayed %d; want 2, 0, 1", res.PodsScheduled, res.PodsNeverPlaced, res.PodsDelayed)
	}
	if !reflect.DeepEqual(res.Delays, []int64{0, 9}) {
		t.Errorf("delays %v, want [0 9]", res.Delays)
	}
	if res.DelayMean != 4.5 || res.DelayP50 != 0 || res.DelayP95 != 9 || res.DelayMax != 9 {
		t.Errorf("delay mean %v p50 %v p95 %v max %v; want 4.5 0 9 9", res.DelayMean, res.DelayP50, res.DelayP95, res.DelayMax)
	}
	want := []TimePoint{{0, 100, 1, 0}, {1, 100, 1, 1}, {10, 100, 1, 0}}
	if !reflect.DeepEqual(res.Timeline, want) {
		t.Errorf("timeline %+v, want %+v", res.Timeline, want)
	}
	if res.AllocPctMean != 100 || res.AllocPctPeak != 100 || res.GPUTotal != 1 {
		t.Errorf("alloc mean %v peak %v gpus %d", res.AllocPctMean, res.AllocPctPeak, res.GPUTotal)
	}
}

// Deletions come before creations at the same instant, and the queue is served first come, first
// served: c, arriving when a leaves, waits behind b.
func TestReplayOrderAndFIFO(t *testing.T) {
	res := replay(t, "bestfit", replayCluster(t, oneGPU), replayPods(t, `pods:
- {name: a, cpu: "1", memory: 1Gi, gpus: 1, createdAt: 0, deletedAt: 10}
- {name: b, cpu: "1", memory: 1Gi, gpus: 1, createdAt: 1, deletedAt: 20}
- {name: c, cpu: "1", memory: 1Gi, gpus: 1, createdAt: 10}
- {name: d, cpu: "1", memory: 1Gi, gpus: 1, createdAt: 20}
`), ReplayOptions{})
	// b starts at 10 (delay 9); c arrives at 10, after a's deletion, finds b there, starts at 20 (10);
	// d arrives at 20 after b's deletion and c's start: it never runs.
	if !reflect.DeepEqual(res.Delays, []int64{0, 9, 10, -1}) {
		t.Errorf("delays %v, want [0 9 10 -1]", res.Delays)
	}
	if res.PodsNeverPlaced != 1 || res.PodsWithdrawn != 0 || res.FailedReasons[gpufit.ReasonInsufficientGPUs] != 1 {
		t.Errorf("never placed %d withdrawn %d reasons %v", res.PodsNeverPlaced, res.PodsWithdrawn, res.FailedReasons)
	}
	// Same arrival instant: the deletion at 10 lets b in, c (created at 10) finds the GPU taken.
	res = replay(t, "default", replayCluster(t, oneGPU), replayPods(t, `pods:
- {name: a, cpu: "1", memory: 1Gi, gpus: 1, createdAt: 0, deletedAt: 10}
- {name: c, cpu: "1", memory: 1Gi, gpus: 1, createdAt: 10}
`), ReplayOptions{})
	if !reflect.DeepEqual(res.Delays, []int64{0, 0}) {
		t.Errorf("deletion before creation: delays %v, want [0 0]", res.Delays)
	}
}

// A pod deleted while it waits is withdrawn, and a large pod at the head does not block smaller ones.
func TestReplayWithdrawAndSkipOver(t *testing.T) {
	nodes := replayCluster(t, `nodes:
- {name: n, count: 2, cpu: "16", memory: 64Gi, gpus: 2}
`)
	res := replay(t, "default", nodes, replayPods(t, `pods:
- {name: hold, count: 4, cpu: "1", memory: 1Gi, gpus: 1, createdAt: 0, deletedAt: 100}
- {name: big, cpu: "1", memory: 1Gi, gpus: 4, createdAt: 1}
- {name: gone, cpu: "1", memory: 1Gi, gpus: 1, createdAt: 2, deletedAt: 50}
- {name: small, cpu: "1", memory: 1Gi, gpus: 1, createdAt: 3}
- {name: free, cpu: "1", memory: 1Gi, createdAt: 4}
`), ReplayOptions{})
	// At 100 the four holders leave: big (4 GPUs) never fits a 2-GPU node, small gets in.
	if !reflect.DeepEqual(res.Delays, []int64{0, 0, 0, 0, -1, -1, 97, 0}) {
		t.Errorf("delays %v", res.Delays)
	}
	if res.PodsWithdrawn != 1 || res.PodsNeverPlaced != 2 {
		t.Errorf("withdrawn %d never placed %d, want 1 and 2", res.PodsWithdrawn, res.PodsNeverPlaced)
	}
	var at50 *TimePoint
	for i := range res.Timeline {
		if res.Timeline[i].Time == 50 {
			at50 = &res.Timeline[i]
		}
	}
	if at50 == nil || at50.Queued != 2 || at50.Running != 5 {
		t.Errorf("at 50: %+v, want 2 queued and 5 running", at50)
	}
	if res.FailedReasons["no node has 4 free GPUs"] != 1 {
		t.Errorf("reasons %v", res.FailedReasons)
	}
}

// The retry cap bounds the cycles spent on the queue after each deletion batch; identical pods that
// failed since resources were last freed cost none.
func TestReplayRetryCap(t *testing.T) {
	nodes := replayCluster(t, `nodes:
- {name: n, cpu: "4", memory: 16Gi, gpus: 8}
`)
	pods := replayPods(t, `pods:
- {name: hold, cpu: "4", memory: 1Gi, gpus: 1, createdAt: 0, deletedAt: 10}
- {name: wait-a, cpu: "2", memory: 1Gi, gpus: 1, createdAt: 1}
- {name: wait-b, cpu: "2", memory: 2Gi, gpus: 1, createdAt: 2}
- {name: same, count: 5, cpu: "4", memory: 3Gi, gpus: 1, createdAt: 3}
`)
	res := replay(t, "default", nodes, pods, ReplayOptions{RetryCap: 1})
	// At 10, only wait-a gets a cycle: wait-b waits forever, though it would have fitted.
	if res.Delays[1] != 9 || res.Delays[2] != -1 || res.RetryAttempts != 1 {
		t.Errorf("cap 1: delays %v, retry attempts %d", res.Delays, res.RetryAttempts)
	}
	res = replay(t, "default", nodes, pods, ReplayOptions{})
	// Uncapped: wait-a and wait-b start at 10, then one of the five identical pods is tried and fails;
	// the other four are known to fail without a cycle.
	if res.Delays[1] != 9 || res.Delays[2] != 8 || res.RetryAttempts != 3 || res.PodsNeverPlaced != 5 {
		t.Errorf("uncapped: delays %v, retry attempts %d, never placed %d", res.Delays, res.RetryAttempts, res.PodsNeverPlaced)
	}
}

func TestReplayFractionalAndDeterminism(t *testing.T) {
	nodes := replayCluster(t, `nodes:
- {name: n, count: 3, cpu: "16", memory: 64Gi, gpus: 2}
`)
	pods := replayPods(t, `pods:
- {name: share, count: 8, cpu: "1", memory: 1Gi, gpuFraction: 0.5, createdAt: 0, deletedAt: 30}
- {name: whole, count: 4, cpu: "1", memory: 1Gi, gpus: 1, createdAt: 5, deletedAt: 40}
`)
	profiles, err := LoadProfiles("../../config/scheduler-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	run := func() *ReplayResult {
		res, err := Replay(context.Background(), profiles[0], nodes, pods, 7, ReplayOptions{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a := run()
	// The eight half-GPU pods share GPUs and count by their shares: 4 of 6 GPUs' worth. Whole-GPU
	// pods that find no free GPU wait for the shares to leave at 30.
	if a.Fractional != 8 || math.Abs(a.Timeline[0].AllocPct-400.0/6) > 1e-9 || a.PodsScheduled != 12 || a.PodsNeverPlaced != 0 {
		t.Errorf("fractional %d first %+v placed %d never %d", a.Fractional, a.Timeline[0], a.PodsScheduled, a.PodsNeverPlaced)
	}
	for i, d := range a.Delays {
		if i >= 8 && d != 0 && d != 25 {
			t.Errorf("pod %d waited %d s, want 0 or 25", i, d)
		}
	}
	b := run()
	a.WallSeconds, b.WallSeconds = 0, 0
	if !reflect.DeepEqual(a, b) {
		t.Errorf("same input and seed, different results:\n%+v\n%+v", a, b)
	}
}

func TestReplayNoTimes(t *testing.T) {
	p, err := BaselineProfile("default")
	if err != nil {
		t.Fatal(err)
	}
	pods := replayPods(t, "pods:\n- {name: a, cpu: \"1\", memory: 1Gi, gpus: 1}\n")
	_, err = Replay(context.Background(), p, replayCluster(t, oneGPU), pods, 1, ReplayOptions{}, nil)
	if !errors.Is(err, ErrNoTimes) {
		t.Errorf("got %v, want ErrNoTimes", err)
	}
	if !HasTimes(replayPods(t, "pods:\n- {name: a, cpu: \"1\", memory: 1Gi, deletedAt: 5}\n")) {
		t.Error("a deletion time is a time")
	}
}
