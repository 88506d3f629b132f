package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim/trace"
)

// Main runs gpu-sim with args (without the program name) and returns the exit code: 0 success, 1 a
// failed run, 2 a bad command line.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, version string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, Usage)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, Usage)
		return 0
	case "-version", "--version", "version":
		fmt.Fprintln(stdout, version)
		return 0
	case ModeGangs:
		return mainGangs(ctx, args[1:], stdout, stderr, version)
	case ModeSnapshot:
		return mainSnapshot(ctx, args[1:], stdout, stderr, version)
	}
	o, err := ParseArgs(args[0], args[1:], stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "gpu-sim: %v\nRun 'gpu-sim --help' for usage.\n", err)
		return 2
	}
	run := func() error { _, err := Run(ctx, o, stdout, stderr, version); return err }
	if o.Mode == ModeWhatIf {
		run = func() error { _, err := RunWhatIf(ctx, o, stdout, stderr, version); return err }
	}
	if err := run(); err != nil {
		fmt.Fprintf(stderr, "gpu-sim: %v\n", err)
		return 1
	}
	return 0
}

// Run executes a parsed command line: it loads the inputs, runs every profile with every seed,
// writes the outputs into o.Out and a table to stdout, and returns the summary.
func Run(ctx context.Context, o *Options, stdout, stderr io.Writer, version string) (*Summary, error) {
	profiles, err := ResolveProfiles(o.Profiles, o.Config, o.ConfigSet)
	if err != nil {
		return nil, err
	}
	in, err := LoadInputs(o.Nodes, o.Pods, o.Strict)
	if err != nil {
		return nil, err
	}
	ReportSkips(stderr, in.Skipped)
	if o.Mode == ModeReplay && !sim.HasTimes(in.Pods) {
		return nil, fmt.Errorf("--pods %s: %w", o.Pods, sim.ErrNoTimes)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, fmt.Errorf("--out: %w", err)
	}
	names := make([]string, len(profiles))
	for i, p := range profiles {
		names[i] = p.Name
	}
	sum := &Summary{
		Mode:    o.Mode,
		Version: version,
		Trace: TraceInfo{
			Nodes: o.Nodes, NodesFormat: in.NodesFormat, NodeCount: len(in.Cluster.Nodes),
			Pods: o.Pods, PodsFormat: in.PodsFormat, PodCount: len(in.Pods),
			GPUTotal: in.GPUTotal, FractionalPods: in.Fractional,
		},
		Profiles:       names,
		Seeds:          o.Seeds,
		FractionalRule: FractionalRule,
		SkippedRows:    len(in.Skipped),
		SkippedReasons: SkipCounts(in.Skipped),
	}
	runs := len(profiles) * len(o.Seeds)
	fmt.Fprintf(stderr, "gpu-sim %s: %d nodes, %d GPUs (%s); %d pods (%s), %d asking for a share of one GPU; profiles %s; %d seeds; %d runs, %d at a time\n",
		o.Mode, len(in.Cluster.Nodes), in.GPUTotal, o.Nodes, len(in.Pods), o.Pods, in.Fractional, strings.Join(names, ", "), len(o.Seeds), runs, min(o.Parallel, runs))
	bar := newProgress(stderr, runs)
	defer bar.stop()

	switch o.Mode {
	case ModeInflate:
		sum.Ratio = o.Ratio
		results, err := runInflate(ctx, o, in, profiles, bar)
		bar.stop()
		if err != nil {
			return nil, err
		}
		sum.Runs = results
		sum.Means = Means(names, results)
		sum.FailedByReason = FailedByReason(names, results, func(r *sim.Result) (string, map[string]int) { return r.Profile, r.FailedReasons })
		for _, r := range results {
			if err := writeTimeline(outPath(o.Out, TimelineFile(r.Profile, r.Seed)), r.Timeline); err != nil {
				return nil, err
			}
		}
		chart := InflateChart(names, results, o.Ratio, len(o.Seeds))
		if err := os.WriteFile(outPath(o.Out, "allocation.svg"), chart.SVG(), 0o644); err != nil {
			return nil, err
		}
		if err := writeJSON(outPath(o.Out, "summary.json"), sum); err != nil {
			return nil, err
		}
		PrintInflateTable(stdout, sum.Means)
		PrintFailedByReason(stdout, sum.FailedByReason)
		fmt.Fprintf(stderr, "gpu-sim: wrote %s: summary.json, %d timeline-*.csv, allocation.svg\n", o.Out, len(results))
	case ModeReplay:
		sum.RetryCap = o.RetryCap
		results, err := runReplay(ctx, o, in, profiles, bar)
		bar.stop()
		if err != nil {
			return nil, err
		}
		sum.Runs = results
		sum.FailedByReason = FailedByReason(names, results, func(r *sim.ReplayResult) (string, map[string]int) { return r.Profile, r.FailedReasons })
		for _, r := range results {
			if err := writeTimePoints(outPath(o.Out, ReplayFile(r.Profile, r.Seed)), "time_s,alloc_pct,running,queued", r.Timeline); err != nil {
				return nil, err
			}
		}
		chart := ReplayChart(names, results)
		if err := os.WriteFile(outPath(o.Out, "utilisation.svg"), chart.SVG(), 0o644); err != nil {
			return nil, err
		}
		if err := writeJSON(outPath(o.Out, "summary.json"), sum); err != nil {
			return nil, err
		}
		PrintReplayTable(stdout, results)
		PrintFailedByReason(stdout, sum.FailedByReason)
		fmt.Fprintf(stderr, "gpu-sim: wrote %s: summary.json, %d replay-*.csv, utilisation.svg\n", o.Out, len(results))
	}
	return sum, nil
}

// runInflate runs every profile on every seed's inflated workload: seed-major, so that one seed's
// pod list is built once, shared (read-only) by its profiles' runs, and released after them.
func runInflate(ctx context.Context, o *Options, in *Inputs, profiles []sim.Profile, bar *progress) ([]*sim.Result, error) {
	type seedPods struct {
		once sync.Once
		pods []trace.Pod
		left atomic.Int32
	}
	perSeed := make([]*seedPods, len(o.Seeds))
	for i := range perSeed {
		perSeed[i] = &seedPods{}
		perSeed[i].left.Store(int32(len(profiles)))
	}
	return runJobs(ctx, o.Parallel, len(o.Seeds)*len(profiles), bar, func(ctx context.Context, j int, progress func(done, total int)) (*sim.Result, error) {
		si, pi := j/len(profiles), j%len(profiles)
		seed, sp := o.Seeds[si], perSeed[si]
		sp.once.Do(func() { sp.pods = trace.Inflate(in.Pods, in.GPUTotal, o.Ratio, seed) })
		pods := sp.pods
		defer func() {
			if sp.left.Add(-1) == 0 {
				sp.pods = nil
			}
		}()
		if len(pods) == 0 {
			return nil, fmt.Errorf("seed %d: inflation gave no pods (no pod requests a GPU?)", seed)
		}
		res, err := sim.Inflate(ctx, profiles[pi], in.Cluster, pods, seed, progress)
		if err != nil {
			return nil, fmt.Errorf("%s, seed %d: %w", profiles[pi].Name, seed, err)
		}
		bar.log("%-16s seed %-4d alloc@100 %6.2f%%  frag@100 %6.2f%%  failed %5d/%d  %.1fs",
			res.Profile, res.Seed, res.AllocPctAt100, res.FragPctAt100, res.PodsFailed, res.PodsTotal, res.WallSeconds)
		return res, nil
	})
}

// runReplay runs every profile with every seed on the workload as it is (seeds break ties only).
func runReplay(ctx context.Context, o *Options, in *Inputs, profiles []sim.Profile, bar *progress) ([]*sim.ReplayResult, error) {
	return runJobs(ctx, o.Parallel, len(o.Seeds)*len(profiles), bar, func(ctx context.Context, j int, progress func(done, total int)) (*sim.ReplayResult, error) {
		si, pi := j/len(profiles), j%len(profiles)
		res, err := sim.Replay(ctx, profiles[pi], in.Cluster, in.Pods, o.Seeds[si], sim.ReplayOptions{RetryCap: o.RetryCap}, progress)
		if err != nil {
			return nil, fmt.Errorf("%s, seed %d: %w", profiles[pi].Name, o.Seeds[si], err)
		}
		bar.log("%-16s seed %-4d placed %d/%d  never placed %d  delay mean %.0fs p95 %.0fs  alloc mean %.2f%%  %.1fs",
			res.Profile, res.Seed, res.PodsScheduled, res.PodsTotal, res.PodsNeverPlaced, res.DelayMean, res.DelayP95, res.AllocPctMean, res.WallSeconds)
		return res, nil
	})
}

// runJobs runs n independent jobs, parallel at a time, and returns their results in job order. The
// first error cancels the jobs still running and is returned.
func runJobs[T any](ctx context.Context, parallel, n int, bar *progress, do func(ctx context.Context, j int, progress func(done, total int)) (T, error)) ([]T, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make([]T, n)
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for w := 0; w < min(parallel, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j := int(next.Add(1) - 1)
				if j >= n || ctx.Err() != nil {
					return
				}
				res, err := do(ctx, j, bar.runProgress(j))
				if err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
				out[j] = res
				bar.finish(j)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// progress shows, on a terminal only, one bar over all runs (each run weighs the same, advancing
// with its pods), and logs a line per finished run either way.
type progress struct {
	w        io.Writer
	tty      bool
	runs     int
	frac     []atomic.Uint32 // per run, done/total x 1e6
	finished atomic.Int32
	start    time.Time
	mu       sync.Mutex
	done     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

const progressScale = 1_000_000

// isTerminal tells whether w is a terminal: never in CI logs or redirected output.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb"
}

func newProgress(w io.Writer, runs int) *progress {
	p := &progress{w: w, tty: isTerminal(w), runs: runs, frac: make([]atomic.Uint32, runs), start: time.Now(), done: make(chan struct{})}
	if p.tty {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-p.done:
					return
				case <-t.C:
					p.mu.Lock()
					p.draw()
					p.mu.Unlock()
				}
			}
		}()
	}
	return p
}

func (p *progress) runProgress(j int) func(done, total int) {
	return func(done, total int) {
		if total > 0 && (done%64 == 0 || done == total) {
			p.frac[j].Store(uint32(int64(done) * progressScale / int64(total)))
		}
	}
}

func (p *progress) finish(j int) {
	p.frac[j].Store(progressScale)
	p.finished.Add(1)
}

// log writes one line, above the bar on a terminal.
func (p *progress) log(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
	fmt.Fprintf(p.w, "  "+format+"\n", args...)
	if p.tty {
		p.draw()
	}
}

func (p *progress) draw() {
	var sum float64
	for i := range p.frac {
		sum += float64(p.frac[i].Load()) / progressScale
	}
	f := sum / float64(max(p.runs, 1))
	const width = 30
	filled := int(f * width)
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", width-filled)
	if filled < width {
		bar = bar[:filled] + ">" + bar[filled+1:]
	}
	elapsed := time.Since(p.start)
	eta := "?"
	if f > 0.001 {
		eta = (time.Duration(float64(elapsed)*(1-f)/f) / time.Second * time.Second).String()
	}
	fmt.Fprintf(p.w, "\r\x1b[K[%s] %5.1f%%  runs %d/%d  elapsed %s  eta %s", bar, 100*f, p.finished.Load(), p.runs,
		elapsed/time.Second*time.Second, eta)
}

// stop ends the bar and clears its line; it may be called more than once.
func (p *progress) stop() {
	p.stopOnce.Do(func() {
		close(p.done)
		p.wg.Wait()
		if p.tty {
			p.mu.Lock()
			fmt.Fprint(p.w, "\r\x1b[K")
			p.mu.Unlock()
		}
	})
}
