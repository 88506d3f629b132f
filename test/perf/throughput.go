// Package perf measures scheduling throughput with kube-scheduler's scheduler_perf
// (k8s.io/kubernetes/test/integration/scheduler_perf): the upstream default profile and
// gpu-scheduler's profile side by side on the same GPU workload, in one `go test` run.
//
// Run it with hack/bench-throughput.sh [short|full] (`make bench`, `make bench-full`); it needs
// bin/etcd on PATH. BenchmarkPerfScheduling runs the test cases of performance-config.yaml, and
// TestMain then writes the median SchedulingThroughput of each profile and their ratio to
// _output/bench/throughput.json (and throughput-<variant>.json). This file holds the parts that need
// no control plane: the derived scheduler config and the summary.
package perf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

const (
	// ProfileDefault is the test case that runs kube-scheduler's default configuration.
	ProfileDefault = "default"
	// ProfileGPUScheduler is the test case that runs config/scheduler-config.yaml.
	ProfileGPUScheduler = "gpu-scheduler"

	// sourceProfile is the profile of config/scheduler-config.yaml that is measured.
	sourceProfile = "gpu-scheduler"
	// perfSchedulerName is the name the measured profile gets in the derived config: scheduler_perf's
	// Pods carry no schedulerName, and it counts scheduling attempts of this profile only.
	perfSchedulerName = "default-scheduler"

	// batchingGate is kube-scheduler's opportunistic batching (KEP-5598), beta and on since 1.35.
	batchingGate = "OpportunisticBatching"
)

// Variant is a workload hack/bench-throughput.sh runs, and the scheduler_perf config that holds it.
type Variant struct {
	Workload, Config string
}

// Variants maps each variant of hack/bench-throughput.sh to its workload.
var Variants = map[string]Variant{
	"short": {"500Nodes_1000Pods", "performance-config.yaml"},
	"full":  {"5000Nodes_10000Pods", "performance-config.yaml"},
	// Half the GPU nodes publish their GPUs through DRA.
	"dra": {"5000Nodes_10000Pods_HalfDRA", "performance-config-dra.yaml"},
}

// gangPlugin is left out of the measured profile: scheduler_perf (1.35+) keeps each workload's
// scheduler reachable until the benchmark ends (a cleanup closure holds it), so the go-cache janitors
// of scheduler-plugins' Coscheduling, which stop only when their caches are garbage collected, never
// stop, and its goroutine-leak check fails the workload after 600 s. The benchmark's Pods form no
// gangs: for them Coscheduling orders the queue as PrioritySort does (priority, then arrival), and
// its Permit and Reserve pass at once.
const gangPlugin = "Coscheduling"

// PerfSchedulerConfig derives the scheduler config the gpu-scheduler test case runs from
// config/scheduler-config.yaml: only its gpu-scheduler profile, renamed default-scheduler, with its
// plugins, weights and pluginConfig as they are but for Coscheduling (gangPlugin), whose queue sort
// gives way to kube-scheduler's default. Top-level settings (percentageOfNodesToScore,
// parallelism, ...) stay too; clientConnection goes, since scheduler_perf brings its own client.
func PerfSchedulerConfig(source []byte) ([]byte, error) {
	var cfg map[string]any
	if err := yaml.Unmarshal(source, &cfg); err != nil {
		return nil, fmt.Errorf("parse scheduler config: %w", err)
	}
	profiles, _ := cfg["profiles"].([]any)
	var found map[string]any
	for _, p := range profiles {
		if pm, ok := p.(map[string]any); ok && pm["schedulerName"] == sourceProfile {
			found = pm
		}
	}
	if found == nil {
		return nil, fmt.Errorf("scheduler config has no profile %q", sourceProfile)
	}
	found["schedulerName"] = perfSchedulerName
	withoutPlugin(found, gangPlugin)
	cfg["profiles"] = []any{found}
	delete(cfg, "clientConnection")
	return yaml.Marshal(cfg)
}

// withoutPlugin drops name from a profile: from every enabled and disabled list of its plugins, and
// its pluginConfig. An extension point where name was all that was enabled goes whole, so that
// kube-scheduler's default for it (e.g. PrioritySort for queueSort) is not left disabled.
func withoutPlugin(profile map[string]any, name string) {
	points, _ := profile["plugins"].(map[string]any)
	for point, v := range points {
		set, _ := v.(map[string]any)
		enabled, droppedEnabled := withoutName(set["enabled"], name)
		disabled, _ := withoutName(set["disabled"], name)
		if droppedEnabled && len(enabled) == 0 {
			delete(points, point)
			continue
		}
		if set != nil {
			set["enabled"], set["disabled"] = enabled, disabled
		}
	}
	configs, _ := withoutName(profile["pluginConfig"], name)
	profile["pluginConfig"] = configs
}

// withoutName returns list without its entries named name, and whether there were any.
func withoutName(list any, name string) ([]any, bool) {
	entries, _ := list.([]any)
	kept := make([]any, 0, len(entries))
	for _, e := range entries {
		if em, _ := e.(map[string]any); em["name"] != name {
			kept = append(kept, e)
		}
	}
	return kept, len(kept) < len(entries)
}

// Sample is the SchedulingThroughput average of one run of one test case's workload.
type Sample struct {
	Profile  string
	Workload string
	// PodsPerSecond is scheduler_perf's SchedulingThroughput "Average": the mean of its one-second
	// samples of scheduled Pods.
	PodsPerSecond float64
	// HintsUsed counts the run's Pods that kube-scheduler placed from a batch hint
	// (scheduler_batch_attempts_total{result="hint_used"}); nil where it was not read.
	HintsUsed *int `json:",omitempty"`
}

// samplesFile collects, one JSON object a line, the samples of the processes of one
// hack/bench-throughput.sh command.
const samplesFile = "samples.jsonl"

// AppendSamples appends samples to path, one JSON object a line.
func AppendSamples(path string, samples []Sample) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, s := range samples {
		if err := enc.Encode(s); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// ReadSamples reads what AppendSamples wrote.
func ReadSamples(path string) ([]Sample, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Sample
	dec := json.NewDecoder(bytes.NewReader(data))
	for dec.More() {
		var s Sample
		if err := dec.Decode(&s); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// dataItems is the part of scheduler_perf's data items file read here.
type dataItems struct {
	DataItems []struct {
		Data   map[string]float64 `json:"data"`
		Labels map[string]string  `json:"labels"`
	} `json:"dataItems"`
}

// ParseDataItems reads the SchedulingThroughput samples of a scheduler_perf data items file. Their
// Name label holds the benchmark path, e.g. "BenchmarkPerfScheduling/gpu-scheduler/500Nodes_1000Pods/namespace-1".
func ParseDataItems(data []byte) ([]Sample, error) {
	var items dataItems
	if err := json.Unmarshal(data, &items); err != nil {
		return nil, fmt.Errorf("parse data items: %w", err)
	}
	var out []Sample
	for _, it := range items.DataItems {
		if it.Labels["Metric"] != "SchedulingThroughput" {
			continue
		}
		avg, ok := it.Data["Average"]
		if !ok {
			continue
		}
		parts := strings.Split(it.Labels["Name"], "/")
		for i := 0; i+1 < len(parts); i++ {
			if parts[i] == ProfileDefault || parts[i] == ProfileGPUScheduler {
				out = append(out, Sample{Profile: parts[i], Workload: parts[i+1], PodsPerSecond: avg})
				break
			}
		}
	}
	return out, nil
}

// Summary is what throughput.json holds.
type Summary struct {
	DefaultPodsPerS      float64   `json:"default_pods_per_s"`
	GPUSchedulerPodsPerS float64   `json:"gpu_scheduler_pods_per_s"`
	Ratio                float64   `json:"ratio"`
	Nodes                int       `json:"nodes"`
	Pods                 int       `json:"pods"`
	Variant              string    `json:"variant"`
	Batching             bool      `json:"batching"`
	Runs                 int       `json:"runs"`
	DefaultRuns          []float64 `json:"default_runs_pods_per_s"`
	GPUSchedulerRuns     []float64 `json:"gpu_scheduler_runs_pods_per_s"`
	// Pods placed from a batch hint, per run, where every run of both profiles counted them.
	DefaultHintsUsed      []int `json:"default_runs_batch_hints_used,omitempty"`
	GPUSchedulerHintsUsed []int `json:"gpu_scheduler_runs_batch_hints_used,omitempty"`
}

var workloadSize = regexp.MustCompile(`^(\d+)Nodes_(\d+)Pods(_|$)`)

// Summarize takes the median of each profile's runs of workload and their ratio (gpu-scheduler over
// default). Both profiles must have run it the same number of times.
func Summarize(workload string, samples []Sample) (Summary, error) {
	s := Summary{Variant: workload}
	for v, w := range Variants {
		if w.Workload == workload {
			s.Variant = v
		}
	}
	if m := workloadSize.FindStringSubmatch(workload); m != nil {
		s.Nodes, _ = strconv.Atoi(m[1])
		s.Pods, _ = strconv.Atoi(m[2])
	}
	hintsKnown := true
	for _, x := range samples {
		if x.Workload != workload {
			continue
		}
		hintsKnown = hintsKnown && x.HintsUsed != nil
		switch x.Profile {
		case ProfileDefault:
			s.DefaultRuns = append(s.DefaultRuns, round(x.PodsPerSecond, 1))
			if x.HintsUsed != nil {
				s.DefaultHintsUsed = append(s.DefaultHintsUsed, *x.HintsUsed)
			}
		case ProfileGPUScheduler:
			s.GPUSchedulerRuns = append(s.GPUSchedulerRuns, round(x.PodsPerSecond, 1))
			if x.HintsUsed != nil {
				s.GPUSchedulerHintsUsed = append(s.GPUSchedulerHintsUsed, *x.HintsUsed)
			}
		}
	}
	if !hintsKnown {
		s.DefaultHintsUsed, s.GPUSchedulerHintsUsed = nil, nil
	}
	if len(s.DefaultRuns) == 0 || len(s.DefaultRuns) != len(s.GPUSchedulerRuns) {
		return s, fmt.Errorf("%s: %d run(s) of %s, %d of %s; want the same number, at least one",
			workload, len(s.DefaultRuns), ProfileDefault, len(s.GPUSchedulerRuns), ProfileGPUScheduler)
	}
	s.Runs = len(s.DefaultRuns)
	s.DefaultPodsPerS = round(median(s.DefaultRuns), 1)
	s.GPUSchedulerPodsPerS = round(median(s.GPUSchedulerRuns), 1)
	if s.DefaultPodsPerS > 0 {
		s.Ratio = round(s.GPUSchedulerPodsPerS/s.DefaultPodsPerS, 3)
	}
	return s, nil
}

// String is the line printed for a summary.
func (s Summary) String() string {
	line := fmt.Sprintf("throughput %s (%d nodes x 8 GPUs, %d GPU pods, batching %s, median of %d run(s)): default %.1f pods/s, gpu-scheduler %.1f pods/s, ratio %.3f (goal >= 0.95)",
		s.Variant, s.Nodes, s.Pods, onOff(s.Batching), s.Runs, s.DefaultPodsPerS, s.GPUSchedulerPodsPerS, s.Ratio)
	if s.DefaultHintsUsed != nil {
		line += fmt.Sprintf("; Pods placed from a batch hint per run: default %v, gpu-scheduler %v", s.DefaultHintsUsed, s.GPUSchedulerHintsUsed)
	}
	return line
}

// FileVariant names the summary's throughput-<variant>.json: the variant, marked when batching is off.
func (s Summary) FileVariant() string {
	if s.Batching {
		return s.Variant
	}
	return s.Variant + "-nobatching"
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// WriteThroughputJSON writes the summary to path, creating its directory.
func WriteThroughputJSON(path string, s Summary) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}
