package perf

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	_ "k8s.io/component-base/logs/json/register"
	"k8s.io/component-base/metrics/testutil"
	schedmetrics "k8s.io/kubernetes/pkg/scheduler/metrics"
	perf "k8s.io/kubernetes/test/integration/scheduler_perf"
	_ "sigs.k8s.io/scheduler-plugins/apis/config/scheme"
	"sigs.k8s.io/yaml"

	_ "github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config/scheme"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins"
)

const topicName = "gpu"

var (
	outDir = flag.String("bench-out", "../../_output/bench",
		"directory for throughput.json, throughput-<variant>.json, scheduler_perf's data items (data-items/) and failed tests' logs (logs/)")
	batching = flag.Bool("batching", true,
		"kube-scheduler's OpportunisticBatching feature gate in both test cases (on by default since 1.35)")
	perfConfigFile = flag.String("perf-config", "performance-config.yaml",
		"scheduler_perf test cases: performance-config.yaml, or performance-config-dra.yaml (half the GPU nodes DRA-published)")
	summarize = flag.Bool("summarize", false,
		"run nothing: write throughput.json from the samples earlier runs appended to <bench-out>/"+samplesFile)
)

// Filled by BenchmarkPerfScheduling, summarized by TestMain.
var (
	benchRuns    int
	samples      []Sample
	seenDataFile = map[string]bool{}
)

func TestMain(m *testing.M) {
	if err := perf.InitTests(); err != nil {
		fmt.Fprintf(os.Stderr, "%v\n", err)
		os.Exit(1)
	}
	out, err := filepath.Abs(*outDir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%v\n", err)
		os.Exit(1)
	}
	*outDir = out
	if f := flag.Lookup("data-items-dir"); f != nil && f.Value.String() == "" {
		_ = f.Value.Set(filepath.Join(out, "data-items"))
	}
	// With ARTIFACTS, scheduler_perf logs each workload to its own file there, kept only if it fails;
	// without, every log line (-v=2) ends up in the benchmark output.
	if _, ok := os.LookupEnv("ARTIFACTS"); !ok {
		_ = os.Setenv("ARTIFACTS", filepath.Join(out, "logs"))
	}

	if *summarize {
		all, err := ReadSamples(filepath.Join(out, samplesFile))
		if err == nil {
			err = writeSummaries(out, all)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if code == 0 && benchRuns > 0 {
		if err := AppendSamples(filepath.Join(out, samplesFile), samples); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// BenchmarkPerfScheduling runs performance-config.yaml: the default and gpu-scheduler test cases,
// each workload the label filter selects; -test.bench picks one. hack/bench-throughput.sh runs each
// profile in a process of its own: scheduler_perf keeps every workload's scheduler reachable until the
// process ends, and a run beside an earlier run's heap is slower.
func BenchmarkPerfScheduling(b *testing.B) {
	if err := os.MkdirAll(os.Getenv("ARTIFACTS"), 0o755); err != nil {
		b.Fatal(err)
	}
	config, err := writePerfConfig(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	benchRuns++
	// The scheduler registers its metrics when it starts; registering them first (once per process)
	// lets the follower read them with no race against that.
	schedmetrics.Register()
	hints := followHintsUsed()
	perf.RunBenchmarkPerfScheduling(b, config, topicName, plugins.Registry())
	hintsUsed, counted := hints.stop()
	before := len(samples)

	// scheduler_perf writes the run's data items to <data-items-dir>/BenchmarkPerfScheduling_benchmark_gpu_<time>.json.
	files, err := filepath.Glob(filepath.Join(flag.Lookup("data-items-dir").Value.String(), b.Name()+"_benchmark_"+topicName+"_*.json"))
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range files {
		if seenDataFile[f] {
			continue
		}
		seenDataFile[f] = true
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		s, err := ParseDataItems(data)
		if err != nil {
			b.Fatalf("%s: %v", f, err)
		}
		samples = append(samples, s...)
	}
	// The count covers the whole benchmark: it belongs to a sample only where there is one.
	if counted && len(samples) == before+1 {
		samples[before].HintsUsed = &hintsUsed
	}
}

// hintFollower reads kube-scheduler's scheduler_batch_attempts_total{result="hint_used"} while a
// workload runs: scheduler_perf resets the registry when the workload ends, before the benchmark
// returns. The highest count read is the workload's (the Pods placed last may be missed if they
// come within one poll of the end).
type hintFollower struct {
	done, stopped chan struct{}
	highest       float64
	read          bool // a value was read at least once
}

const hintPoll = 100 * time.Millisecond

func followHintsUsed() *hintFollower {
	f := &hintFollower{done: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(f.stopped)
		tick := time.NewTicker(hintPoll)
		defer tick.Stop()
		for {
			f.poll()
			select {
			case <-f.done:
				return
			case <-tick.C:
			}
		}
	}()
	return f
}

func (f *hintFollower) poll() {
	stats := schedmetrics.BatchAttemptStats
	if stats == nil || !stats.IsCreated() {
		return
	}
	v, err := testutil.GetCounterMetricValue(stats.WithLabelValues(perfSchedulerName, schedmetrics.BatchAttemptHintUsed))
	if err != nil {
		return
	}
	f.read = true
	f.highest = max(f.highest, v)
}

// stop ends the reads and returns the highest count, and whether the counter could be read at all.
func (f *hintFollower) stop() (int, bool) {
	close(f.done)
	<-f.stopped
	return int(f.highest), f.read
}

// writePerfConfig writes to dir the scheduler config of the gpu-scheduler test case, derived from the
// file performance-config.yaml names (config/scheduler-config.yaml), and a copy of
// performance-config.yaml that points to it.
// Relative paths in it stay relative to this package's directory, where `go test` runs.
func writePerfConfig(dir string) (string, error) {
	testCases, err := readPerfConfig()
	if err != nil {
		return "", err
	}
	for _, tc := range testCases {
		tc["featureGates"] = map[string]bool{batchingGate: *batching}
		if tc["name"] != ProfileGPUScheduler {
			continue
		}
		src, _ := tc["schedulerConfigPath"].(string)
		data, err := os.ReadFile(src)
		if err != nil {
			return "", err
		}
		derived, err := PerfSchedulerConfig(data)
		if err != nil {
			return "", fmt.Errorf("%s: %w", src, err)
		}
		path := filepath.Join(dir, "gpu-scheduler-config.yaml")
		if err := os.WriteFile(path, derived, 0o644); err != nil {
			return "", err
		}
		tc["schedulerConfigPath"] = path
	}
	data, err := yaml.Marshal(testCases)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, filepath.Base(*perfConfigFile))
	return path, os.WriteFile(path, data, 0o644)
}

func readPerfConfig() ([]map[string]any, error) {
	data, err := os.ReadFile(*perfConfigFile)
	if err != nil {
		return nil, err
	}
	var testCases []map[string]any
	if err := yaml.Unmarshal(data, &testCases); err != nil {
		return nil, fmt.Errorf("%s: %w", *perfConfigFile, err)
	}
	return testCases, nil
}

// writeSummaries prints each measured workload's summary and writes it to throughput-<variant>.json;
// throughput.json gets the largest.
func writeSummaries(out string, samples []Sample) error {
	workloads := map[string]bool{}
	for _, s := range samples {
		workloads[s.Workload] = true
	}
	if len(workloads) == 0 {
		return fmt.Errorf("no SchedulingThroughput measured: check -perf-scheduling-label-filter")
	}
	var summaries []Summary
	for w := range workloads {
		s, err := Summarize(w, samples)
		if err != nil {
			return err
		}
		s.Batching = *batching
		summaries = append(summaries, s)
	}
	sort.Slice(summaries, func(i, j int) bool { return summaries[i].Pods < summaries[j].Pods })
	for _, s := range summaries {
		fmt.Println(s)
		if err := WriteThroughputJSON(filepath.Join(out, "throughput-"+s.FileVariant()+".json"), s); err != nil {
			return err
		}
	}
	path := filepath.Join(out, "throughput.json")
	fmt.Println("wrote", path)
	return WriteThroughputJSON(path, summaries[len(summaries)-1])
}
