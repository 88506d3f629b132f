package sim

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim/trace"
)

// DefaultRetryCap is how many scheduling cycles Replay spends, at most, on queued Pods after each
// batch of deletions.
const DefaultRetryCap = 64

// ErrNoTimes is Replay's answer to a workload without creation or deletion times (the openb
// multigpu files): every Pod would arrive at 0 and none would leave, which is inflate's business.
var ErrNoTimes = errors.New("the pods have no creation or deletion times (e.g. the openb multigpu files, " +
	"which have only five columns): replay needs them; use inflate for arrival-only runs")

// ReplayOptions tunes Replay.
type ReplayOptions struct {
	// RetryCap bounds the scheduling cycles spent retrying queued Pods after each batch of
	// deletions; 0 means DefaultRetryCap.
	RetryCap int
}

// TimePoint is the cluster after the events of one instant (seconds from the trace start), in
// replays of Pods or of gangs: Running and Queued count what the replay schedules (Pods or jobs).
type TimePoint struct {
	Time     int64
	AllocPct float64
	Running  int
	Queued   int
}

// ReplayResult is one replay of one profile with one seed. Delays are in seconds.
type ReplayResult struct {
	Profile       string `json:"profile"`
	Seed          int64  `json:"seed"`
	PodsTotal     int    `json:"pods_total"`
	PodsScheduled int    `json:"pods_scheduled"`
	// PodsNeverPlaced are PodsWithdrawn (deleted while still waiting) plus those still waiting at the end.
	PodsNeverPlaced int   `json:"pods_never_placed"`
	PodsWithdrawn   int   `json:"pods_withdrawn"`
	PodsDelayed     int   `json:"pods_delayed"`
	GPUTotal        int64 `json:"gpu_total"`
	// Queueing delay (start - creation) over the placed Pods.
	DelayMean float64 `json:"queue_delay_mean_s"`
	DelayP50  float64 `json:"queue_delay_p50_s"`
	DelayP95  float64 `json:"queue_delay_p95_s"`
	DelayMax  float64 `json:"queue_delay_max_s"`
	// AllocPctMean is GPU allocation averaged over time, from the first event to the last.
	AllocPctMean float64 `json:"gpu_alloc_pct_mean"`
	AllocPctPeak float64 `json:"gpu_alloc_pct_peak"`
	// RetryAttempts counts the scheduling cycles spent on queued Pods.
	RetryAttempts int `json:"retry_attempts"`
	// FailedReasons counts, for the Pods never placed, the reasons of their last attempt.
	FailedReasons map[string]int `json:"failed_reasons"`
	// Fractional counts Pods asking for a share of one GPU.
	Fractional  int     `json:"fractional"`
	WallSeconds float64 `json:"wall_seconds"`
	// Delays is each Pod's queueing delay, in the order given, or -1 when it was never placed.
	Delays   []int64     `json:"-"`
	Timeline []TimePoint `json:"-"`
}

// HasTimes reports whether any Pod has a creation time other than 0 or a deletion time.
func HasTimes(pods []trace.Pod) bool {
	for i := range pods {
		if pods[i].CreatedAt != 0 || pods[i].DeletedAt != trace.NoTime {
			return true
		}
	}
	return false
}

type podState uint8

const (
	statePending podState = iota
	stateRunning
	stateQueued
	stateWithdrawn
	stateDone
)

// Replay plays pods in time: each arrives at CreatedAt and, once placed, leaves at DeletedAt (never
// when NoTime); at equal times deletions come first, then arrivals in the order given. A Pod that
// does not fit waits in a FIFO queue; after every batch of deletions the queue is retried head
// first, spending at most opts.RetryCap scheduling cycles (Pods that cannot fit, because no node has
// enough free GPUs or an identical Pod failed since resources were last freed, are passed over
// without a cycle). A Pod still waiting at its DeletedAt is withdrawn, as deleting a pending Pod
// does. Allocation counts GPUMilli, shares by their thousandths. progress, if set, is called after
// every arrival.
func Replay(ctx context.Context, profile Profile, cl trace.Cluster, pods []trace.Pod, seed int64, opts ReplayOptions, progress func(done, total int)) (*ReplayResult, error) {
	start := time.Now()
	if len(pods) > 0 && !HasTimes(pods) {
		return nil, ErrNoTimes
	}
	// The run's plugins, informers and caches end with it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := New(ctx, profile, cl, seed)
	if err != nil {
		return nil, err
	}
	r := &replayer{
		s:        s,
		pods:     pods,
		cap:      opts.RetryCap,
		state:    make([]podState, len(pods)),
		keys:     make([]string, len(pods)),
		demand:   make([]gpu.Demand, len(pods)),
		node:     make([]string, len(pods)),
		reasons:  make([][]string, len(pods)),
		failedAt: map[string]failure{},
	}
	if r.cap <= 0 {
		r.cap = DefaultRetryCap
	}
	res := &ReplayResult{Profile: profile.Name, Seed: seed, PodsTotal: len(pods), FailedReasons: map[string]int{}, GPUTotal: cl.GPUs()}
	r.res = res
	r.capacity = float64(res.GPUTotal * gpu.MilliPerGPU)
	if r.capacity == 0 {
		return nil, fmt.Errorf("the cluster has no GPUs")
	}
	res.Delays = make([]int64, len(pods))
	order := make([]int, len(pods))
	for i := range pods {
		res.Delays[i] = -1
		order[i] = i
		p := &pods[i]
		if p.DeletedAt != trace.NoTime && p.DeletedAt < p.CreatedAt {
			return nil, fmt.Errorf("pod %s: deleted at %d, before its creation at %d", p.Pod.Name, p.DeletedAt, p.CreatedAt)
		}
		if share := p.GPUMilli; share > 0 && share < gpu.MilliPerGPU {
			res.Fractional++
		}
		// A demand that cannot be read is left to the scheduler's PreFilter to reject.
		r.demand[i], _ = gpu.PodDemand(p.Pod)
		r.keys[i] = memoKey(p.Pod)
	}
	sort.SliceStable(order, func(a, b int) bool { return pods[order[a]].CreatedAt < pods[order[b]].CreatedAt })
	if err := r.refreshMaxFree(); err != nil {
		return nil, err
	}

	for ci := 0; ci < len(order) || r.deletions.Len() > 0 || r.nextWithdrawal() != math.MaxInt64; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		tc, td := int64(math.MaxInt64), int64(math.MaxInt64)
		if ci < len(order) {
			tc = pods[order[ci]].CreatedAt
		}
		if r.deletions.Len() > 0 {
			td = r.deletions[0].at
		}
		if tw := r.nextWithdrawal(); tw < td && tw < tc {
			// Pending Pods deleted before anything else happens: no room is freed.
			r.withdraw(tw)
			r.record(tw)
			continue
		}
		if td <= tc {
			now := td
			for r.deletions.Len() > 0 && r.deletions[0].at == now {
				i := heap.Pop(&r.deletions).(timed).pod
				if err := s.Remove(pods[i].Pod, r.node[i]); err != nil {
					return nil, fmt.Errorf("pod %s: %w", pods[i].Pod.Name, err)
				}
				r.state[i] = stateDone
				r.running--
				r.allocated -= pods[i].GPUMilli
			}
			r.version++
			r.withdraw(now)
			if err := r.refreshMaxFree(); err != nil {
				return nil, err
			}
			if err := r.retry(now); err != nil {
				return nil, err
			}
			r.record(now)
			continue
		}
		now := tc
		r.withdraw(now)
		for ci < len(order) && pods[order[ci]].CreatedAt == now {
			i := order[ci]
			ci++
			placed, err := r.try(i, now)
			if err != nil {
				return nil, err
			}
			if !placed {
				if d := pods[i].DeletedAt; d != trace.NoTime && d <= now {
					r.state[i] = stateWithdrawn
					res.PodsWithdrawn++
				} else {
					r.enqueue(i)
				}
			}
			if progress != nil {
				progress(ci, len(order))
			}
		}
		r.record(now)
	}
	r.finish()
	res.WallSeconds = time.Since(start).Seconds()
	return res, nil
}

// failure is an attempt that failed at a version of the cluster (bumped whenever resources are freed).
type failure struct {
	version int
	reasons []string
}

type replayer struct {
	s        *Simulator
	pods     []trace.Pod
	res      *ReplayResult
	cap      int
	capacity float64

	state   []podState
	keys    []string     // memoKey of the Pods, "" when not memoizable
	demand  []gpu.Demand // what the Pods ask of GPUs
	node    []string
	reasons [][]string

	queue       []int // FIFO of queued pods; entries no longer queued are dropped lazily
	queued      int
	withdrawals timedHeap // queued pods by DeletedAt
	deletions   timedHeap // running pods by DeletedAt

	version  int
	failedAt map[string]failure
	// maxWhole is the most GPUs one node has not granted to nvidia.com/gpu requests, as of the last
	// deletion: placements since only lower it, so it bounds what a whole-GPU Pod can get under any
	// profile (shares are left to the memo: not every profile accounts them).
	maxWhole int64
	// free holds each node's free whole GPUs while maxWhole is computed.
	free      []int64
	running   int
	allocated int64
}

// cannotFit tells, without a scheduling cycle, that pod i would fail now.
func (r *replayer) cannotFit(i int) ([]string, bool) {
	if d := r.demand[i]; d.Whole > r.maxWhole {
		return []string{fmt.Sprintf("no node has %d free GPUs", d.Whole)}, true
	}
	if k := r.keys[i]; k != "" {
		if f, ok := r.failedAt[k]; ok && f.version == r.version {
			return f.reasons, true
		}
	}
	return nil, false
}

// try places pod i at now if it can; it returns whether it did.
func (r *replayer) try(i int, now int64) (bool, error) {
	if reasons, no := r.cannotFit(i); no {
		r.reasons[i] = reasons
		return false, nil
	}
	placed, err := r.s.Schedule(r.pods[i].Pod)
	if err != nil {
		return false, fmt.Errorf("pod %s: %w", r.pods[i].Pod.Name, err)
	}
	if placed.Node == "" {
		reasons := SortedReasons(placed.Reasons)
		r.reasons[i] = reasons
		if k := r.keys[i]; k != "" {
			r.failedAt[k] = failure{version: r.version, reasons: reasons}
		}
		return false, nil
	}
	p := &r.pods[i]
	r.state[i], r.node[i], r.reasons[i] = stateRunning, placed.Node, nil
	r.running++
	r.allocated += p.GPUMilli
	r.res.PodsScheduled++
	r.res.Delays[i] = now - p.CreatedAt
	if p.DeletedAt != trace.NoTime {
		heap.Push(&r.deletions, timed{at: p.DeletedAt, pod: i})
	}
	return true, nil
}

func (r *replayer) enqueue(i int) {
	r.state[i] = stateQueued
	r.queue = append(r.queue, i)
	r.queued++
	if d := r.pods[i].DeletedAt; d != trace.NoTime {
		heap.Push(&r.withdrawals, timed{at: d, pod: i})
	}
}

// nextWithdrawal is when the next queued Pod is deleted, or MaxInt64.
func (r *replayer) nextWithdrawal() int64 {
	for r.withdrawals.Len() > 0 && r.state[r.withdrawals[0].pod] != stateQueued {
		heap.Pop(&r.withdrawals) // placed since it was queued
	}
	if r.withdrawals.Len() == 0 {
		return math.MaxInt64
	}
	return r.withdrawals[0].at
}

// withdraw drops the queued Pods deleted by now.
func (r *replayer) withdraw(now int64) {
	for r.withdrawals.Len() > 0 && r.withdrawals[0].at <= now {
		i := heap.Pop(&r.withdrawals).(timed).pod
		if r.state[i] == stateQueued {
			r.state[i] = stateWithdrawn
			r.queued--
			r.res.PodsWithdrawn++
		}
	}
}

// retry walks the queue head first, placing what fits, within the cap on scheduling cycles.
func (r *replayer) retry(now int64) error {
	keep := r.queue[:0]
	attempts := 0
	for k, i := range r.queue {
		if r.state[i] != stateQueued {
			continue
		}
		if attempts >= r.cap {
			keep = append(keep, r.queue[k:]...)
			break
		}
		if _, no := r.cannotFit(i); !no {
			attempts++
		}
		placed, err := r.try(i, now)
		if err != nil {
			return err
		}
		if placed {
			r.queued--
			continue
		}
		keep = append(keep, i)
	}
	r.queue = keep
	r.res.RetryAttempts += attempts
	return nil
}

// refreshMaxFree recomputes maxWhole.
func (r *replayer) refreshMaxFree() error {
	var err error
	if r.free, err = r.s.FreeWhole(r.free[:0]); err != nil {
		return err
	}
	r.maxWhole = 0
	for _, free := range r.free {
		r.maxWhole = max(r.maxWhole, free)
	}
	return nil
}

func (r *replayer) record(now int64) {
	pt := TimePoint{Time: now, AllocPct: 100 * float64(r.allocated) / r.capacity, Running: r.running, Queued: r.queued}
	tl := r.res.Timeline
	if n := len(tl); n > 0 && tl[n-1].Time == now {
		tl[n-1] = pt // one point per instant: the state after all its events
		return
	}
	r.res.Timeline = append(tl, pt)
}

func (r *replayer) finish() {
	res := r.res
	var delays []int64
	var sum float64
	for i, d := range res.Delays {
		switch {
		case d >= 0:
			delays = append(delays, d)
			sum += float64(d)
			if d > 0 {
				res.PodsDelayed++
			}
		case r.state[i] == stateQueued || r.state[i] == stateWithdrawn:
			reasons := r.reasons[i]
			if len(reasons) == 0 {
				reasons = []string{"deleted before its first scheduling attempt"}
			}
			for _, reason := range reasons {
				res.FailedReasons[stripCount(reason)]++
			}
		}
	}
	res.PodsNeverPlaced = res.PodsTotal - res.PodsScheduled
	res.DelayMean, res.DelayP50, res.DelayP95, res.DelayMax = distribution(delays, sum)
	res.AllocPctPeak, res.AllocPctMean = allocationOverTime(res.Timeline)
}

// memoKey identifies what the scheduler sees of a Pod, so that a Pod identical to one that failed
// since resources were last freed is known to fail too. Pods whose placement can depend on other
// Pods beyond resources (affinity, topology spread) get "" and are always tried.
func memoKey(pod *v1.Pod) string {
	spec := &pod.Spec
	if spec.Affinity != nil || len(spec.TopologySpreadConstraints) > 0 || len(spec.InitContainers) > 0 || spec.Overhead != nil {
		return ""
	}
	var b strings.Builder
	for _, c := range spec.Containers {
		fmt.Fprintf(&b, "%v|%v|%v;", sortedList(c.Resources.Requests), sortedList(c.Resources.Limits), c.Ports)
	}
	keys := make([]string, 0, len(pod.Annotations))
	for k := range pod.Annotations {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s;", k, pod.Annotations[k])
	}
	fmt.Fprintf(&b, "%v|%v|%s|%v", spec.NodeSelector, spec.Tolerations, spec.NodeName, spec.PriorityClassName)
	return b.String()
}

func sortedList(l v1.ResourceList) string {
	names := make([]string, 0, len(l))
	for n := range l {
		names = append(names, string(n))
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		q := l[v1.ResourceName(n)]
		fmt.Fprintf(&b, "%s=%s,", n, q.String())
	}
	return b.String()
}

// timed is a Pod due at a time; timedHeap orders them by time, then by index.
type timed struct {
	at  int64
	pod int
}

type timedHeap []timed

func (h timedHeap) Len() int { return len(h) }
func (h timedHeap) Less(a, b int) bool {
	if h[a].at != h[b].at {
		return h[a].at < h[b].at
	}
	return h[a].pod < h[b].pod
}
func (h timedHeap) Swap(a, b int) { h[a], h[b] = h[b], h[a] }
func (h *timedHeap) Push(x any)   { *h = append(*h, x.(timed)) }
func (h *timedHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
