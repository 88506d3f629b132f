package sim

import (
	"context"
	"fmt"
	"time"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim/trace"
)

// WhatIfResult is one profile's answer to the two questions a snapshot asks (gpu-sim whatif).
type WhatIfResult struct {
	Profile string `json:"profile"`
	Seed    int64  `json:"seed"`
	GPUs    int64  `json:"gpu_total"`

	// Today: the bound Pods kept on their nodes (each Filtered and Reserved there, so a node's
	// shares and DRA devices are accounted as the profile accounts them), then today's pending
	// Pods in creation order.
	Kept int `json:"bound_kept"`
	// NoLongerFit counts bound Pods the profile would not have put on their node (e.g. a share on a
	// DRA node, or more than the node has): left out of today's cluster.
	NoLongerFit int `json:"bound_no_longer_fit"`
	// LiveAllocPct and LiveFragPct are today's cluster as kept: GPU allocation and fragmentation
	// (the workload's own shapes, FGD's measure), in % of the GPUs.
	LiveAllocPct float64 `json:"live_gpu_alloc_pct"`
	LiveFragPct  float64 `json:"live_gpu_frag_pct"`
	Pending      int     `json:"pending"`
	PendingGPU   int     `json:"pending_gpu"`
	// PendingPlaced and PendingGPUPlaced count today's pending Pods the profile places, and
	// Placements says where (Pod name -> node).
	PendingPlaced    int               `json:"pending_placed"`
	PendingGPUPlaced int               `json:"pending_gpu_placed"`
	Placements       map[string]string `json:"placements"`

	// From empty: the bound Pods placed again in creation order.
	Replaced     int     `json:"replaced"`
	ReplacedFail int     `json:"replaced_failed"`
	AllocPct     float64 `json:"gpu_alloc_pct"`
	FragPct      float64 `json:"gpu_frag_pct"`
	WallSeconds  float64 `json:"wall_seconds"`
}

// WhatIf answers, for one profile, what a snapshot asks: (a) with the bound Pods kept where they
// are, how many of today's pending Pods the profile places, and where; (b) placing the bound Pods
// again from an empty cluster in creation order, the GPU allocation and fragmentation it reaches,
// beside today's. pods are a snapshot's workload (trace.Pod.Node set for the bound ones).
func WhatIf(ctx context.Context, profile Profile, cl trace.Cluster, pods []trace.Pod, seed int64) (*WhatIfResult, error) {
	start := time.Now()
	res := &WhatIfResult{Profile: profile.Name, Seed: seed, GPUs: cl.GPUs(), Placements: map[string]string{}}
	capacity := float64(res.GPUs * gpu.MilliPerGPU)
	if capacity == 0 {
		return nil, fmt.Errorf("the cluster has no GPUs")
	}
	shapes := shapesOf(pods)

	today, err := whatIfRun(ctx, profile, cl, shapes, seed)
	if err != nil {
		return nil, err
	}
	defer today.cancel()
	kept, noFit, held, err := today.placeBound(pods, true)
	if err != nil {
		return nil, err
	}
	res.Kept, res.NoLongerFit = kept, noFit
	res.LiveAllocPct, res.LiveFragPct = 100*float64(held)/capacity, 100*today.frag.total/capacity
	for i := range pods {
		p := &pods[i]
		if p.Node != "" {
			continue
		}
		res.Pending++
		if p.GPUMilli > 0 {
			res.PendingGPU++
		}
		placed, err := today.measure(today.s.Schedule(p.Pod))
		if err != nil {
			return nil, fmt.Errorf("pod %s: %w", p.Pod.Name, err)
		}
		if placed == "" {
			continue
		}
		res.PendingPlaced++
		if p.GPUMilli > 0 {
			res.PendingGPUPlaced++
		}
		res.Placements[p.Pod.Name] = placed
	}
	today.cancel() // its caches go before the second run's fill

	empty, err := whatIfRun(ctx, profile, cl, shapes, seed)
	if err != nil {
		return nil, err
	}
	defer empty.cancel()
	replaced, failed, held, err := empty.placeBound(pods, false)
	if err != nil {
		return nil, err
	}
	res.Replaced, res.ReplacedFail = replaced, failed
	res.AllocPct, res.FragPct = 100*float64(held)/capacity, 100*empty.frag.total/capacity
	res.WallSeconds = time.Since(start).Seconds()
	return res, nil
}

// whatIfSim is a simulator and the fragmentation of its nodes.
type whatIfSim struct {
	s      *Simulator
	frag   *fragTracker
	cancel context.CancelFunc
}

func whatIfRun(ctx context.Context, profile Profile, cl trace.Cluster, shapes []gpu.Shape, seed int64) (*whatIfSim, error) {
	ctx, cancel := context.WithCancel(ctx)
	s, err := New(ctx, profile, cl, seed)
	if err != nil {
		cancel()
		return nil, err
	}
	frag, err := newFragTracker(s, shapes)
	if err != nil {
		cancel()
		return nil, err
	}
	return &whatIfSim{s: s, frag: frag, cancel: cancel}, nil
}

// placeBound places the snapshot's bound Pods in creation order, each kept on its node when pinned:
// how many were placed and not, and the GPU thousandths the placed ones hold.
func (w *whatIfSim) placeBound(pods []trace.Pod, pinned bool) (placed, failed int, held int64, err error) {
	for i := range pods {
		p := &pods[i]
		if p.Node == "" {
			continue
		}
		place := func() (Placement, error) { return w.s.Schedule(p.Pod) }
		if pinned {
			place = func() (Placement, error) { return w.s.Keep(p.Pod, p.Node) }
		}
		node, err := w.measure(place())
		if err != nil {
			return 0, 0, 0, fmt.Errorf("pod %s: %w", p.Pod.Name, err)
		}
		if node == "" {
			failed++
			continue
		}
		placed++
		held += p.GPUMilli
	}
	return placed, failed, held, nil
}

// measure notes a placement's node in the fragmentation; "" when the Pod was not placed.
func (w *whatIfSim) measure(placed Placement, err error) (string, error) {
	if err != nil || placed.Node == "" {
		return "", err
	}
	return placed.Node, w.frag.update(w.s.cluster.byName[placed.Node])
}
