package sim

import (
	"container/heap"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/scheduler-plugins/apis/scheduling/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/interconnect"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim/trace"
)

// Gang jobs: PodGroups of identical GPU Pods that arrive, wait in a FIFO queue until ScheduleGang
// places them whole, run for a while and leave.

// Limits of the gang jobs YAML format.
const (
	MaxGangJobs       = 100_000
	MaxPodsPerGangJob = 1_000
	MaxGPUsPerGangPod = 64
)

// TopologyLevel is one of Interconnect's topology levels (a name and the node label of its domains).
type TopologyLevel = config.TopologyLevel

// GangJob is one job: Pods members of one PodGroup, each asking GPUsPerPod whole GPUs (and CPU and
// Memory when set), arriving at Arrival and running Duration seconds once placed.
type GangJob struct {
	Name              string             `json:"name"`
	Pods              int                `json:"pods"`
	GPUsPerPod        int64              `json:"gpusPerPod"`
	CPU               *resource.Quantity `json:"cpu,omitempty"`
	Memory            *resource.Quantity `json:"memory,omitempty"`
	TopologyRequired  string             `json:"topologyRequired,omitempty"`
	TopologyPreferred string             `json:"topologyPreferred,omitempty"`
	Arrival           int64              `json:"arrival"`
	Duration          int64              `json:"duration"`
}

// GPUs is the job's GPU demand.
func (j *GangJob) GPUs() int64 { return int64(j.Pods) * j.GPUsPerPod }

// GangJobShape is one entry of the gang jobs YAML file: Count identical jobs (one named Name without
// Count), the k-th named Name-k and arriving at Arrival + k x Interval.
type GangJobShape struct {
	Name              string `json:"name"`
	Count             *int64 `json:"count,omitempty"`
	Pods              int    `json:"pods"`
	GPUsPerPod        int64  `json:"gpusPerPod"`
	CPU               string `json:"cpu,omitempty"`
	Memory            string `json:"memory,omitempty"`
	TopologyRequired  string `json:"topologyRequired,omitempty"`
	TopologyPreferred string `json:"topologyPreferred,omitempty"`
	Arrival           int64  `json:"arrival,omitempty"`
	Interval          int64  `json:"interval,omitempty"`
	Duration          int64  `json:"duration"`
}

// LoadGangJobsYAML reads a gang jobs file. See ReadGangJobsYAML.
func LoadGangJobsYAML(path string) ([]GangJob, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadGangJobsYAML(f, filepath.Base(path))
}

// ReadGangJobsYAML reads the gang jobs format:
//
//	jobs:
//	- {name: llm, count: 4, pods: 4, gpusPerPod: 8, topologyRequired: ib-fabric, arrival: 0, interval: 600, duration: 7200}
//
// Unknown fields are errors, and so is every invalid entry, named by source, index and name.
func ReadGangJobsYAML(r io.Reader, source string) ([]GangJob, error) {
	data, err := io.ReadAll(io.LimitReader(r, trace.MaxYAMLBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if len(data) > trace.MaxYAMLBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", source, trace.MaxYAMLBytes)
	}
	var top map[string][]any
	if err := yaml.UnmarshalStrict(data, &top); err != nil {
		return nil, fmt.Errorf("%s: %s", source, cleanYAMLError(err))
	}
	for k := range top {
		if k != "jobs" {
			return nil, fmt.Errorf("%s: unknown field %q, want only \"jobs\"", source, k)
		}
	}
	if len(top["jobs"]) == 0 {
		return nil, fmt.Errorf("%s: no jobs", source)
	}
	var jobs []GangJob
	seen := map[string]int{}
	for i, raw := range top["jobs"] {
		var e GangJobShape
		b, err := json.Marshal(raw)
		if err == nil {
			err = yaml.UnmarshalStrict(b, &e)
		}
		name := e.Name
		if m, ok := raw.(map[string]any); ok && name == "" {
			name, _ = m["name"].(string)
		}
		fail := func(format string, args ...any) error {
			return fmt.Errorf("%s: jobs[%d] %q: %s", source, i, truncateName(name), fmt.Sprintf(format, args...))
		}
		if err != nil {
			return nil, fail("%s", cleanYAMLError(err))
		}
		made, err := e.jobs()
		if err != nil {
			return nil, fail("%v", err)
		}
		for _, j := range made {
			if prev, dup := seen[j.Name]; dup {
				return nil, fail("job name %q is also made by jobs[%d]", j.Name, prev)
			}
			seen[j.Name] = i
		}
		if len(jobs)+len(made) > MaxGangJobs {
			return nil, fail("more than %d jobs in all", MaxGangJobs)
		}
		jobs = append(jobs, made...)
	}
	return jobs, nil
}

// cleanYAMLError drops the decoder's prefixes from err.
func cleanYAMLError(err error) string {
	s := err.Error()
	for _, prefix := range []string{"error converting YAML to JSON: ", "error unmarshaling JSON: ", "while decoding JSON: ", "json: "} {
		s = strings.TrimPrefix(s, prefix)
	}
	return s
}

func truncateName(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

func (e *GangJobShape) jobs() ([]GangJob, error) {
	if e.Name == "" {
		return nil, fmt.Errorf("name is required")
	}
	if e.Pods < 1 || e.Pods > MaxPodsPerGangJob {
		return nil, fmt.Errorf("pods %d: want 1 to %d", e.Pods, MaxPodsPerGangJob)
	}
	if e.GPUsPerPod < 1 || e.GPUsPerPod > MaxGPUsPerGangPod {
		return nil, fmt.Errorf("gpusPerPod %d: want 1 to %d", e.GPUsPerPod, MaxGPUsPerGangPod)
	}
	if e.Duration < 1 {
		return nil, fmt.Errorf("duration %d: want 1 second or more", e.Duration)
	}
	if e.Arrival < 0 || e.Interval < 0 {
		return nil, fmt.Errorf("arrival %d, interval %d: want 0 or more", e.Arrival, e.Interval)
	}
	if e.TopologyRequired != "" && e.TopologyPreferred != "" {
		return nil, fmt.Errorf("topologyRequired and topologyPreferred are mutually exclusive")
	}
	for field, v := range map[string]string{"topologyRequired": e.TopologyRequired, "topologyPreferred": e.TopologyPreferred} {
		if v != "" && len(validation.IsDNS1123Label(v)) > 0 {
			return nil, fmt.Errorf("%s %q: want a topology level name like ib-fabric", field, truncateName(v))
		}
	}
	job := GangJob{Pods: e.Pods, GPUsPerPod: e.GPUsPerPod, TopologyRequired: e.TopologyRequired,
		TopologyPreferred: e.TopologyPreferred, Duration: e.Duration}
	for field, s := range map[string]string{"cpu": e.CPU, "memory": e.Memory} {
		if s == "" {
			continue
		}
		q, err := resource.ParseQuantity(s)
		if err != nil || q.Sign() < 0 {
			return nil, fmt.Errorf("%s %q: want a non-negative Kubernetes quantity (like 16, 500m, 64Gi)", field, truncateName(s))
		}
		if field == "cpu" {
			job.CPU = &q
		} else {
			job.Memory = &q
		}
	}
	count := int64(1)
	if e.Count != nil {
		if count = *e.Count; count < 0 || count > MaxGangJobs {
			return nil, fmt.Errorf("count %d: want 0 to %d", count, MaxGangJobs)
		}
	}
	out := make([]GangJob, 0, count)
	for k := int64(0); k < count; k++ {
		j := job
		j.Name = e.Name
		if e.Count != nil {
			j.Name = fmt.Sprintf("%s-%d", e.Name, k)
		}
		// Pods are named <job>-<i>, and the job names their PodGroup label.
		if msgs := validation.IsDNS1123Label(j.Name); len(msgs) > 0 || len(j.Name) > 50 {
			return nil, fmt.Errorf("job name %q: want a DNS label of at most 50 characters", truncateName(j.Name))
		}
		j.Arrival = e.Arrival + k*e.Interval
		out = append(out, j)
	}
	return out, nil
}

// GenerateGangJobs makes n jobs from seed: 1 to 8 Pods of 1, 2, 4 or 8 GPUs (uniformly); a job of
// several Pods requires one ib-fabric or prefers one ib-leaf (even odds); Poisson arrivals whose
// rate offers load x totalGPUs on average; exponential durations of mean meanDuration seconds (at
// least 60). The same arguments make the same jobs.
func GenerateGangJobs(n int, seed int64, totalGPUs int64, load float64, meanDuration float64) []GangJob {
	rng := rand.New(rand.NewSource(seed))
	sizes := []int64{1, 2, 4, 8}
	const meanPods, meanGPUs = 4.5, 3.75 // of the uniform choices above
	meanInterarrival := meanPods * meanGPUs * meanDuration / (load * float64(totalGPUs))
	jobs := make([]GangJob, n)
	t := 0.0
	for i := range jobs {
		t += rng.ExpFloat64() * meanInterarrival
		j := GangJob{
			Name:       fmt.Sprintf("job-%05d", i),
			Pods:       1 + rng.Intn(8),
			GPUsPerPod: sizes[rng.Intn(len(sizes))],
			Arrival:    int64(t),
			Duration:   max(60, int64(rng.ExpFloat64()*meanDuration)),
		}
		topo := rng.Intn(2)
		if j.Pods > 1 {
			if topo == 0 {
				j.TopologyRequired = "ib-fabric"
			} else {
				j.TopologyPreferred = "ib-leaf"
			}
		}
		jobs[i] = j
	}
	return jobs
}

// TopologyLevels returns the topology levels of the profile's Interconnect args (nil without them).
func TopologyLevels(p Profile) []config.TopologyLevel {
	for _, pc := range p.Config.PluginConfig {
		if pc.Name != interconnect.Name {
			continue
		}
		if args, ok := pc.Args.(*config.InterconnectArgs); ok {
			return args.TopologyLevels
		}
	}
	return nil
}

// WithoutTopology is profile named name with Interconnect's topology levels emptied: plain
// Coscheduling, all or nothing, with no idea where a gang's members land beyond what the other
// plugins score. (An explicit `topologyLevels: []` in a config file does the same: defaulting fills
// only an absent list.)
func WithoutTopology(p Profile, name string) (Profile, error) {
	out := p
	out.Name, out.Config = name, *p.Config.DeepCopy()
	found := false
	for i := range out.Config.PluginConfig {
		pc := &out.Config.PluginConfig[i]
		if pc.Name != interconnect.Name {
			continue
		}
		args, ok := pc.Args.(*config.InterconnectArgs)
		if !ok {
			return Profile{}, fmt.Errorf("profile %s: Interconnect args of type %T", p.Name, pc.Args)
		}
		args = args.DeepCopy()
		args.TopologyLevels = []config.TopologyLevel{}
		pc.Args = args
		found = true
	}
	if !found {
		return Profile{}, fmt.Errorf("profile %s has no Interconnect args", p.Name)
	}
	return out, nil
}

// CheckGangJobLevels checks that every level the jobs name is one of levels.
func CheckGangJobLevels(jobs []GangJob, levels []config.TopologyLevel) error {
	known := map[string]bool{}
	names := make([]string, 0, len(levels))
	for _, l := range levels {
		known[l.Name] = true
		names = append(names, l.Name)
	}
	for i := range jobs {
		for _, l := range []string{jobs[i].TopologyRequired, jobs[i].TopologyPreferred} {
			if l != "" && !known[l] {
				return fmt.Errorf("job %s: unknown topology level %q (known: %s)", jobs[i].Name, l, strings.Join(names, ", "))
			}
		}
	}
	return nil
}

// LevelShare is how many placed jobs of several Pods landed inside one domain of a topology level.
type LevelShare struct {
	Level  string  `json:"level"`
	Label  string  `json:"node_label"`
	Inside int     `json:"jobs_inside"`
	Share  float64 `json:"share_pct"`
}

// GangOutcome is what became of one job.
type GangOutcome struct {
	Start int64    // -1 when never placed
	Nodes []string // one per Pod
}

// GangResult is one profile's run. Times are in seconds.
type GangResult struct {
	Profile     string `json:"profile"`
	Seed        int64  `json:"seed"`
	Jobs        int    `json:"jobs"`
	JobsPlaced  int    `json:"jobs_placed"`
	JobsNever   int    `json:"jobs_never_placed"`
	GPUTotal    int64  `json:"gpu_total"`
	MultiPlaced int    `json:"multi_pod_jobs_placed"`
	// Inside is, per topology level some node carries, the placed jobs of several Pods inside one
	// of its domains.
	Inside []LevelShare `json:"inside_one_domain"`
	// RequiredBroken counts placed jobs whose Pods are not inside one domain of the level they require.
	RequiredBroken int     `json:"required_level_broken"`
	WaitMean       float64 `json:"wait_mean_s"`
	WaitP50        float64 `json:"wait_p50_s"`
	WaitP95        float64 `json:"wait_p95_s"`
	WaitMax        float64 `json:"wait_max_s"`
	// AllocPctMean is GPU allocation averaged over time from the first arrival to the last departure.
	AllocPctMean float64 `json:"gpu_alloc_pct_mean"`
	AllocPctPeak float64 `json:"gpu_alloc_pct_peak"`
	Makespan     int64   `json:"makespan_s"`
	// GangAttempts counts ScheduleGang calls (jobs that surely do not fit are passed over without one).
	GangAttempts int     `json:"gang_attempts"`
	WallSeconds  float64 `json:"wall_seconds"`

	Outcomes []GangOutcome `json:"-"`
	Timeline []TimePoint   `json:"-"`
}

// RunGangs replays jobs on nodes with profile: at each instant departures come first, then the
// queue is retried head first (every job that fits now is placed, in queue order), then arrivals
// are tried in order, a job that does not fit joining the queue's tail. Each job is placed with
// ScheduleGang, whole or not at all. levels are the topology levels to report (those of the
// gpu-scheduler profile). progress, if set, is called as jobs arrive.
func RunGangs(ctx context.Context, profile Profile, cl trace.Cluster, jobs []GangJob, levels []config.TopologyLevel,
	seed int64, progress func(done, total int)) (*GangResult, error) {
	start := time.Now()
	// The run's plugins, informers and caches end with it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := New(ctx, profile, cl, seed)
	if err != nil {
		return nil, err
	}
	g := &gangRun{s: s, jobs: jobs, failedAt: map[string]int{}, placed: make([][]*v1.Pod, len(jobs)),
		res: &GangResult{Profile: profile.Name, Seed: seed, Jobs: len(jobs), Outcomes: make([]GangOutcome, len(jobs)), GPUTotal: cl.GPUs()}}
	if g.res.GPUTotal == 0 {
		return nil, fmt.Errorf("the cluster has no GPUs")
	}
	order := make([]int, len(jobs))
	for i := range jobs {
		order[i] = i
		g.res.Outcomes[i].Start = -1
	}
	sort.SliceStable(order, func(a, b int) bool { return jobs[order[a]].Arrival < jobs[order[b]].Arrival })
	for ai := 0; ai < len(order) || g.ends.Len() > 0; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ta, tf := int64(math.MaxInt64), int64(math.MaxInt64)
		if ai < len(order) {
			ta = jobs[order[ai]].Arrival
		}
		if g.ends.Len() > 0 {
			tf = g.ends[0].at
		}
		if tf <= ta {
			now := tf
			for g.ends.Len() > 0 && g.ends[0].at == now {
				if err := g.finish(heap.Pop(&g.ends).(timed).pod); err != nil {
					return nil, err
				}
			}
			g.version++
			if err := g.retry(now); err != nil {
				return nil, err
			}
			g.record(now)
			continue
		}
		now := ta
		for ai < len(order) && jobs[order[ai]].Arrival == now {
			i := order[ai]
			ai++
			ok, err := g.try(i, now)
			if err != nil {
				return nil, err
			}
			if !ok {
				g.queue = append(g.queue, i)
			}
			if progress != nil {
				progress(ai, len(order))
			}
		}
		g.record(now)
	}
	g.summarize(cl.Nodes, levels)
	g.res.WallSeconds = time.Since(start).Seconds()
	return g.res, nil
}

type gangRun struct {
	s        *Simulator
	jobs     []GangJob
	res      *GangResult
	queue    []int
	ends     timedHeap
	placed   [][]*v1.Pod // per job, the placed copies while it runs
	running  int
	alloc    int64 // GPUs allocated
	version  int   // bumped at every batch of departures
	failedAt map[string]int
	// free holds each node's free whole GPUs while surelyFails counts slots.
	free []int64
}

// gangPods builds job i's Pods.
func (g *gangRun) gangPods(i int) []*v1.Pod {
	j := &g.jobs[i]
	res := v1.ResourceList{gpu.ResourceName: *resource.NewQuantity(j.GPUsPerPod, resource.DecimalSI)}
	if j.CPU != nil {
		res[v1.ResourceCPU] = j.CPU.DeepCopy()
	}
	if j.Memory != nil {
		res[v1.ResourceMemory] = j.Memory.DeepCopy()
	}
	annotations := map[string]string{}
	if j.TopologyRequired != "" {
		annotations[gpu.TopologyRequiredAnnotation] = j.TopologyRequired
	}
	if j.TopologyPreferred != "" {
		annotations[gpu.TopologyPreferredAnnotation] = j.TopologyPreferred
	}
	pods := make([]*v1.Pod, j.Pods)
	for k := range pods {
		name := fmt.Sprintf("%s-%d", j.Name, k)
		pods[k] = &v1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: trace.Namespace, UID: types.UID(trace.Namespace + "/" + name),
				Labels: map[string]string{v1alpha1.PodGroupLabel: j.Name}, Annotations: annotations},
			Spec: v1.PodSpec{
				SchedulerName: v1.DefaultSchedulerName,
				Containers: []v1.Container{{Name: trace.ContainerName, Image: "gpu-sim/gang:latest",
					Resources: v1.ResourceRequirements{Requests: res, Limits: res.DeepCopy()}}},
			},
			Status: v1.PodStatus{Phase: v1.PodPending},
		}
	}
	return pods
}

// shapeKey identifies what the scheduler sees of a job: one that failed since the last departures
// fails again.
func (j *GangJob) shapeKey() string {
	return fmt.Sprintf("%d|%d|%v|%v|%s|%s", j.Pods, j.GPUsPerPod, j.CPU, j.Memory, j.TopologyRequired, j.TopologyPreferred)
}

// surelyFails tells, without a scheduling cycle, that job i cannot be placed now: the nodes lack
// room for its Pods by GPUs alone, or the same shape failed since the last departures.
func (g *gangRun) surelyFails(i int) bool {
	j := &g.jobs[i]
	if v, ok := g.failedAt[j.shapeKey()]; ok && v == g.version {
		return true
	}
	if j.GPUs() > g.res.GPUTotal-g.alloc {
		return true
	}
	var err error
	if g.free, err = g.s.FreeWhole(g.free[:0]); err != nil {
		return false // the attempt will meet the error
	}
	slots := int64(0)
	for _, free := range g.free {
		if slots += free / j.GPUsPerPod; slots >= int64(j.Pods) {
			return false
		}
	}
	return true
}

func (g *gangRun) try(i int, now int64) (bool, error) {
	if g.surelyFails(i) {
		return false, nil
	}
	j := &g.jobs[i]
	g.res.GangAttempts++
	placements, err := g.s.ScheduleGang(trace.Namespace, j.Name, j.Pods, g.gangPods(i))
	if err != nil {
		return false, fmt.Errorf("job %s: %w", j.Name, err)
	}
	if len(placements) < j.Pods || placements[len(placements)-1].Node == "" {
		g.failedAt[j.shapeKey()] = g.version
		return false, nil
	}
	out := &g.res.Outcomes[i]
	out.Start = now
	out.Nodes = make([]string, len(placements))
	g.placed[i] = make([]*v1.Pod, len(placements))
	for k, p := range placements {
		out.Nodes[k], g.placed[i][k] = p.Node, p.Pod
	}
	g.running++
	g.alloc += j.GPUs()
	heap.Push(&g.ends, timed{at: now + j.Duration, pod: i})
	return true, nil
}

func (g *gangRun) finish(i int) error {
	for k, p := range g.placed[i] {
		if err := g.s.Remove(p, g.res.Outcomes[i].Nodes[k]); err != nil {
			return fmt.Errorf("job %s: %w", g.jobs[i].Name, err)
		}
	}
	g.placed[i] = nil
	g.running--
	g.alloc -= g.jobs[i].GPUs()
	return nil
}

// retry walks the queue head first and places every job that fits.
func (g *gangRun) retry(now int64) error {
	keep := g.queue[:0]
	for _, i := range g.queue {
		ok, err := g.try(i, now)
		if err != nil {
			return err
		}
		if !ok {
			keep = append(keep, i)
		}
	}
	g.queue = keep
	return nil
}

func (g *gangRun) record(now int64) {
	pt := TimePoint{Time: now, AllocPct: 100 * float64(g.alloc) / float64(g.res.GPUTotal), Running: g.running, Queued: len(g.queue)}
	if n := len(g.res.Timeline); n > 0 && g.res.Timeline[n-1].Time == now {
		g.res.Timeline[n-1] = pt
		return
	}
	g.res.Timeline = append(g.res.Timeline, pt)
}

func (g *gangRun) summarize(nodes []*v1.Node, levels []config.TopologyLevel) {
	res := g.res
	labels := make(map[string]map[string]string, len(nodes))
	carried := map[string]bool{}
	for _, n := range nodes {
		labels[n.Name] = n.Labels
		for _, l := range levels {
			if _, ok := n.Labels[l.NodeLabel]; ok {
				carried[l.Name] = true
			}
		}
	}
	levelLabel := map[string]string{}
	for _, l := range levels {
		levelLabel[l.Name] = l.NodeLabel
		if carried[l.Name] {
			res.Inside = append(res.Inside, LevelShare{Level: l.Name, Label: l.NodeLabel})
		}
	}
	inside := func(nodeNames []string, label string) bool {
		d, ok := labels[nodeNames[0]][label]
		if !ok {
			return false
		}
		for _, n := range nodeNames[1:] {
			if labels[n][label] != d {
				return false
			}
		}
		return true
	}
	var waits []int64
	var sum float64
	for i, o := range res.Outcomes {
		if o.Start < 0 {
			continue
		}
		res.JobsPlaced++
		w := o.Start - g.jobs[i].Arrival
		waits = append(waits, w)
		sum += float64(w)
		if req := g.jobs[i].TopologyRequired; req != "" && !inside(o.Nodes, levelLabel[req]) {
			res.RequiredBroken++
		}
		if len(o.Nodes) < 2 {
			continue
		}
		res.MultiPlaced++
		for k := range res.Inside {
			if inside(o.Nodes, res.Inside[k].Label) {
				res.Inside[k].Inside++
			}
		}
	}
	res.JobsNever = res.Jobs - res.JobsPlaced
	for k := range res.Inside {
		if res.MultiPlaced > 0 {
			res.Inside[k].Share = 100 * float64(res.Inside[k].Inside) / float64(res.MultiPlaced)
		}
	}
	res.WaitMean, res.WaitP50, res.WaitP95, res.WaitMax = distribution(waits, sum)
	res.AllocPctPeak, res.AllocPctMean = allocationOverTime(res.Timeline)
	if n := len(res.Timeline); n > 0 {
		res.Makespan = res.Timeline[n-1].Time
	}
}
