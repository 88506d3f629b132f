package sim

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	"sigs.k8s.io/scheduler-plugins/apis/scheduling/v1alpha1"

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
	// KeptAgainstPolicy counts the kept Pods that the profile's Filter would not have put on their
	// node (e.g. a CPU-only Pod where AntiStranding holds CPU back for the GPUs): they are there,
	// and kept.
	KeptAgainstPolicy int `json:"bound_kept_against_policy"`
	// WithoutRoom counts bound Pods their node has no room for as the profile counts it (e.g. a
	// share on a DRA node, or more than the node has): left out of today's cluster.
	WithoutRoom int `json:"bound_without_room"`
	// LiveAllocPct, LiveFragPct and LiveStrandedPct are today's cluster as kept: GPU allocation,
	// fragmentation (the workload's own shapes, FGD's measure) and stranded GPUs (free GPUs whose
	// node has too little CPU or memory left for any of the workload's GPU shapes), in % of the GPUs.
	LiveAllocPct    float64 `json:"live_gpu_alloc_pct"`
	LiveFragPct     float64 `json:"live_gpu_frag_pct"`
	LiveStrandedPct float64 `json:"live_gpu_stranded_pct"`
	Pending         int     `json:"pending"`
	PendingGPU      int     `json:"pending_gpu"`
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
	StrandedPct  float64 `json:"gpu_stranded_pct"`
	WallSeconds  float64 `json:"wall_seconds"`
}

// WhatIf answers, for one profile, what a snapshot asks: (a) with the bound Pods kept where they
// are, how many of today's pending Pods the profile places, and where; (b) placing the bound Pods
// again from an empty cluster in creation order, the GPU allocation, fragmentation and stranded
// GPUs it reaches, beside today's. pods are a snapshot's workload (trace.Pod.Node set for the bound
// ones). A gang's members are placed together, all or nothing, when its first member's turn comes,
// as Coscheduling's Permit would let them go: today, the pending members once they and the kept
// ones make up minMember (fewer wait, unplaced; beyond minMember, one by one); from empty, the bound
// members.
func WhatIf(ctx context.Context, profile Profile, cl trace.Cluster, pods []trace.Pod, seed int64) (*WhatIfResult, error) {
	start := time.Now()
	res := &WhatIfResult{Profile: profile.Name, Seed: seed, GPUs: cl.GPUs(), Placements: map[string]string{}}
	capacity := float64(res.GPUs * gpu.MilliPerGPU)
	if capacity == 0 {
		return nil, fmt.Errorf("the cluster has no GPUs")
	}
	shapes := shapesOf(pods)
	var bound, pending []*trace.Pod
	for i := range pods {
		if pods[i].Node != "" {
			bound = append(bound, &pods[i])
		} else {
			pending = append(pending, &pods[i])
		}
	}

	today, err := whatIfRun(ctx, profile, cl, shapes, seed)
	if err != nil {
		return nil, err
	}
	defer today.cancel()
	keptByGang := map[*trace.Gang]int{}
	for _, p := range bound {
		placed, err := today.keep(p)
		if err != nil {
			return nil, err
		}
		if !placed {
			res.WithoutRoom++
			continue
		}
		res.Kept++
		keptByGang[p.Gang]++
	}
	res.KeptAgainstPolicy = today.objected
	res.LiveAllocPct, res.LiveFragPct, res.LiveStrandedPct = today.percents(capacity)
	err = today.placeInTurn(pending, func(g *trace.Gang) gangNeed {
		return gangNeed{together: g.MinMember - keptByGang[g], size: g.MinMember}
	}, func(p *trace.Pod, node string) {
		res.Pending++
		if p.GPUMilli > 0 {
			res.PendingGPU++
		}
		if node == "" {
			return
		}
		res.PendingPlaced++
		if p.GPUMilli > 0 {
			res.PendingGPUPlaced++
		}
		res.Placements[p.Pod.Name] = node
	})
	if err != nil {
		return nil, err
	}
	today.cancel() // its caches go before the second run's fill

	empty, err := whatIfRun(ctx, profile, cl, shapes, seed)
	if err != nil {
		return nil, err
	}
	defer empty.cancel()
	boundByGang := map[*trace.Gang]int{}
	for _, p := range bound {
		boundByGang[p.Gang]++
	}
	// From empty, a gang's bound members go together: they ran together (fewer than minMember when
	// the others have left since).
	err = empty.placeInTurn(bound, func(g *trace.Gang) gangNeed {
		n := min(g.MinMember, boundByGang[g])
		return gangNeed{together: n, size: n}
	}, func(_ *trace.Pod, node string) {
		if node == "" {
			res.ReplacedFail++
		} else {
			res.Replaced++
		}
	})
	if err != nil {
		return nil, err
	}
	res.AllocPct, res.FragPct, res.StrandedPct = empty.percents(capacity)
	res.WallSeconds = time.Since(start).Seconds()
	return res, nil
}

// whatIfSim is a simulator and the GPU usage of its nodes.
type whatIfSim struct {
	s      *Simulator
	usage  *usageTracker
	cancel context.CancelFunc
	// held is the GPU thousandths the placed Pods hold.
	held int64
	// objected counts the Pods kept against the profile's Filter (Simulator.Keep).
	objected int
}

// percents are the GPU allocation, fragmentation and stranded GPUs in % of capacity (thousandths).
func (w *whatIfSim) percents(capacity float64) (alloc, frag, stranded float64) {
	return 100 * float64(w.held) / capacity, 100 * w.usage.frag / capacity, 100 * float64(w.usage.stranded) / capacity
}

func whatIfRun(ctx context.Context, profile Profile, cl trace.Cluster, shapes []gpu.Shape, seed int64) (*whatIfSim, error) {
	ctx, cancel := context.WithCancel(ctx)
	s, err := New(ctx, profile, cl, seed)
	if err != nil {
		cancel()
		return nil, err
	}
	usage, err := newUsageTracker(s, shapes)
	if err != nil {
		cancel()
		return nil, err
	}
	return &whatIfSim{s: s, usage: usage, cancel: cancel}, nil
}

// keep keeps a bound Pod on its node (Simulator.Keep); false when the node has no room for it.
func (w *whatIfSim) keep(p *trace.Pod) (bool, error) {
	outcome, err := w.s.Keep(p.Pod, p.Node)
	if err == nil && outcome.Node != "" && len(outcome.Reasons) > 0 {
		w.objected++
	}
	return w.note(p, outcome, err)
}

// gangNeed is how many of a gang's members go together, all or nothing, when its first member's
// turn comes (none: one by one), and the gang's size as Interconnect plans for it.
type gangNeed struct{ together, size int }

// placeInTurn places pods in their order. When a gang's first member's turn comes, need(gang) of
// its members go together, all or nothing, as Coscheduling's Permit lets minMember go; a gang with
// fewer members waits, unplaced; its other members are placed one by one in their turn. done hears
// each Pod's node, "" when it was not placed.
func (w *whatIfSim) placeInTurn(pods []*trace.Pod, need func(*trace.Gang) gangNeed, done func(p *trace.Pod, node string)) error {
	started := map[*trace.Gang]bool{}
	handled := map[*trace.Pod]bool{}
	for i, p := range pods {
		if handled[p] {
			continue
		}
		if p.Gang != nil && !started[p.Gang] {
			started[p.Gang] = true
			if n := need(p.Gang); n.together > 0 {
				var members []*trace.Pod
				for _, m := range pods[i:] {
					if m.Gang == p.Gang {
						members = append(members, m)
					}
				}
				if len(members) < n.together { // the gang waits: none of them is placed
					for _, m := range members {
						handled[m] = true
						done(m, "")
					}
					continue
				}
				members = members[:n.together]
				if err := w.placeGang(p, members, n.size, done); err != nil {
					return err
				}
				for _, m := range members {
					handled[m] = true
				}
				continue
			}
		}
		outcome, err := w.s.Schedule(p.Pod)
		if _, err := w.note(p, outcome, err); err != nil {
			return err
		}
		done(p, outcome.Node)
	}
	return nil
}

// placeGang places the members of first's gang together, all or nothing (ScheduleGang), the gang
// sized size; done hears each member's node.
func (w *whatIfSim) placeGang(first *trace.Pod, members []*trace.Pod, size int, done func(p *trace.Pod, node string)) error {
	objects := make([]*v1.Pod, len(members))
	for j, m := range members {
		objects[j] = m.Pod
	}
	outcomes, err := w.s.ScheduleGang(first.Pod.Namespace, first.Pod.Labels[v1alpha1.PodGroupLabel], size, objects)
	if err != nil {
		return fmt.Errorf("gang %s: %w", first.Gang.Name, err)
	}
	placed := len(outcomes) == len(members) && outcomes[len(outcomes)-1].Node != ""
	for j, m := range members {
		var outcome Placement
		if placed {
			outcome = outcomes[j]
		}
		if _, err := w.note(m, outcome, nil); err != nil {
			return err
		}
		done(m, outcome.Node)
	}
	return nil
}

// note counts a placement's GPUs and measures its node again; false when the Pod was not placed.
func (w *whatIfSim) note(p *trace.Pod, outcome Placement, err error) (bool, error) {
	if err != nil {
		return false, fmt.Errorf("pod %s: %w", p.Pod.Name, err)
	}
	if outcome.Node == "" {
		return false, nil
	}
	w.held += p.GPUMilli
	return true, w.usage.update(w.s.cluster.byName[outcome.Node])
}
