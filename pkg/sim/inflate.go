package sim

import (
	"context"
	"fmt"
	"strings"
	"time"

	fwk "k8s.io/kube-scheduler/framework"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim/trace"
)

// Point is one step of a run's timeline, in percent of the cluster's GPU capacity.
type Point struct {
	ArrivedPct, AllocPct, FragPct float64
}

// Result is one run of one profile with one seed.
type Result struct {
	Profile       string         `json:"profile"`
	Seed          int64          `json:"seed"`
	PodsTotal     int            `json:"pods_total"`
	PodsScheduled int            `json:"pods_scheduled"`
	PodsFailed    int            `json:"pods_failed"`
	GPUTotal      int64          `json:"gpu_total"`
	AllocPctAt100 float64        `json:"gpu_alloc_pct_at_100"`
	FragPctAt100  float64        `json:"frag_pct_at_100"`
	WallSeconds   float64        `json:"wall_seconds"`
	FailedReasons map[string]int `json:"failed_reasons"`
	// Fractional counts Pods asking for a share of one GPU; they share GPUs as in the daemon.
	Fractional int `json:"fractional"`
	// FFDCeilingPct is what an offline first-fit-decreasing packing of the Pods arrived by 100%
	// allocates (FFDCeiling): a reference for AllocPctAt100 that depends on the seed, not the profile.
	FFDCeilingPct float64 `json:"ffd_ceiling_pct"`
	Timeline      []Point `json:"-"`
}

// Inflate runs the published openb experiment's arrival-only replay: pods arrive in order, each is
// placed or fails and is dropped. Allocation and fragmentation are read when arrivals reach 100% of
// the cluster's GPUs. progress, if set, is called after every Pod.
func Inflate(ctx context.Context, profile Profile, cl trace.Cluster, pods []trace.Pod, seed int64, progress func(done, total int)) (*Result, error) {
	start := time.Now()
	// The run's plugins, informers and caches end with it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := New(ctx, profile, cl, seed)
	if err != nil {
		return nil, err
	}
	res := &Result{Profile: profile.Name, Seed: seed, PodsTotal: len(pods), FailedReasons: map[string]int{}, GPUTotal: cl.GPUs()}
	capacity := float64(res.GPUTotal * gpu.MilliPerGPU)
	if capacity == 0 {
		return nil, fmt.Errorf("the cluster has no GPUs")
	}
	usage, err := newUsageTracker(s, shapesOf(pods))
	if err != nil {
		return nil, err
	}
	var arrived, allocated int64
	var shares []int64 // arrived by 100%
	reached := false
	for i := range pods {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := &pods[i]
		pod := p.Pod
		if share := p.GPUMilli; share > 0 && share < gpu.MilliPerGPU {
			res.Fractional++
			if !reached {
				shares = append(shares, share)
			}
		}
		placed, err := s.Schedule(pod)
		if err != nil {
			return nil, fmt.Errorf("pod %s: %w", pod.Name, err)
		}
		arrived += p.GPUMilli
		if placed.Node == "" {
			res.PodsFailed++
			for _, r := range SortedReasons(placed.Reasons) {
				res.FailedReasons[stripCount(r)]++
			}
		} else {
			res.PodsScheduled++
			allocated += p.GPUMilli
			if err := usage.update(s.cluster.byName[placed.Node]); err != nil {
				return nil, err
			}
		}
		pt := Point{ArrivedPct: 100 * float64(arrived) / capacity, AllocPct: 100 * float64(allocated) / capacity, FragPct: 100 * usage.frag / capacity}
		res.Timeline = append(res.Timeline, pt)
		if !reached && pt.ArrivedPct >= 100 {
			reached = true
			res.AllocPctAt100, res.FragPctAt100 = pt.AllocPct, pt.FragPct
			res.FFDCeilingPct = FFDCeiling(shares, arrived, res.GPUTotal)
		}
		if progress != nil {
			progress(i+1, len(pods))
		}
	}
	if !reached && len(res.Timeline) > 0 {
		last := res.Timeline[len(res.Timeline)-1]
		res.AllocPctAt100, res.FragPctAt100 = last.AllocPct, last.FragPct
		res.FFDCeilingPct = FFDCeiling(shares, arrived, res.GPUTotal)
	}
	res.WallSeconds = time.Since(start).Seconds()
	return res, nil
}

// stripCount turns "12 Insufficient free GPUs" into the reason alone, for counting failed Pods.
func stripCount(r string) string {
	if i := strings.IndexByte(r, ' '); i > 0 && strings.Trim(r[:i], "0123456789") == "" {
		return r[i+1:]
	}
	return r
}

// shapesOf groups Pods into FGD's shapes, weighted by how often each occurs. A Pod's shape is the
// one the scheduler's GPUFragmentation learns from it (gpu.ShapeOf); a Pod without one (a malformed
// demand, which the scheduler would refuse) adds none.
func shapesOf(pods []trace.Pod) []gpu.Shape {
	type key struct {
		cpu, mem, gpus, milli int64
		models                string
	}
	index := map[key]int{}
	var shapes []gpu.Shape
	for i := range pods {
		s, err := gpu.ShapeOf(pods[i].Pod)
		if err != nil {
			continue
		}
		k := key{cpu: s.MilliCPU, mem: s.Memory, gpus: s.GPUs, milli: s.GPUMilli, models: strings.Join(s.Models, "|")}
		if j, ok := index[k]; ok {
			shapes[j].Weight++
			continue
		}
		index[k] = len(shapes)
		shapes = append(shapes, s)
	}
	return shapes
}

// usageTracker keeps each node's GPU usage (gpu.NodeUsage: expected fragmentation, stranded GPUs)
// and their sums, measuring again only the node a placement changed.
type usageTracker struct {
	s        *Simulator
	nodes    []fwk.NodeInfo
	workload *gpu.Workload
	byNode   []gpu.Usage
	// frag is the sum of the nodes' fragmentation, stranded of their stranded GPU thousandths.
	frag     float64
	stranded int64
}

func newUsageTracker(s *Simulator, shapes []gpu.Shape) (*usageTracker, error) {
	nodes := s.Nodes()
	t := &usageTracker{s: s, nodes: nodes, workload: gpu.NewWorkload(shapes), byNode: make([]gpu.Usage, len(nodes))}
	for i := range nodes {
		if err := t.update(i); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// update measures node i again, its GPUs as the plugins count them.
func (t *usageTracker) update(i int) error {
	view, err := t.s.GPUs()
	if err != nil {
		return err
	}
	u := gpu.NodeUsage(t.nodes[i], view, t.workload, gpu.DefaultModelLabel)
	t.frag += u.Fragmented - t.byNode[i].Fragmented
	t.stranded += u.Stranded - t.byNode[i].Stranded
	t.byNode[i] = u
	return nil
}
