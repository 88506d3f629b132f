// Package cli is gpu-sim's command line: flags, inputs, runs of profiles x seeds, and the reports
// (summary.json, timelines, charts, a table). cmd/gpu-sim only wires it to the process.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim"
)

// Modes.
const (
	ModeInflate = "inflate"
	ModeReplay  = "replay"
	// ModeWhatIf replays a snapshot (gpu-sim snapshot) two ways: today's pending Pods on the
	// cluster as it is, and the bound Pods from empty.
	ModeWhatIf = "whatif"
)

// DefaultConfig is the scheduler config whose profiles are simulated beside the baselines.
const DefaultConfig = "config/scheduler-config.yaml"

// MaxSeeds bounds how many seeds one --seeds may name.
const MaxSeeds = 10_000

// baselineOrder is the order the built-in baselines are listed and run in.
var baselineOrder = []string{"default", "bestfit", "fgd"}

// Options is one parsed command line.
type Options struct {
	Mode      string
	Nodes     string
	Pods      string
	Config    string
	ConfigSet bool // --config was given
	Profiles  []string
	Seeds     []int64
	Ratio     float64
	RetryCap  int
	Parallel  int
	Strict    bool
	Out       string
}

// Usage is gpu-sim's top-level help.
const Usage = `gpu-sim runs GPU workloads through the scheduler framework, with gpu-scheduler's plugins and
profiles and built-in baselines, on a simulated cluster (no API server), and compares the profiles.

Usage:
  gpu-sim inflate --nodes FILE --pods FILE [--config FILE] [--profiles a,b] [--seeds 42-51]
                  [--ratio 1.3] [--parallel N] [--strict] --out DIR
  gpu-sim replay  --nodes FILE --pods FILE [--config FILE] [--profiles a,b] [--seeds 42]
                  [--retry-cap 64] [--parallel N] [--strict] --out DIR
  gpu-sim gangs   --nodes FILE (--pods FILE | --generate N) [--seeds 42] [--config FILE]
                  [--profiles gpu-scheduler] --out DIR
  gpu-sim snapshot [--kubeconfig FILE] [--namespace NS] --out DIR
  gpu-sim whatif  --nodes SNAP/cluster.yaml --pods SNAP/workload.yaml [--config FILE] [--profiles a,b]
                  [--seeds 42] [--parallel N] --out DIR
  gpu-sim --version
  gpu-sim <mode> --help

Modes:
  inflate  the published openb experiment: pods sampled with replacement up to --ratio x the cluster's
           GPUs, one inflated list per seed shared by all profiles; arrival only, a pod that does not
           fit fails and is dropped. Reports GPU allocation and fragmentation when arrivals reach 100%.
  replay   the pods in time: creations and deletions in order; a pod that does not fit waits in a
           FIFO queue until deletions free room. Reports queueing delay and allocation over time.
  gangs    gang jobs (PodGroups, all or nothing) in time, gpu-scheduler vs plain coscheduling (its
           profile without topology levels): jobs inside one leaf/fabric, wait, allocation.
  snapshot a live cluster's Nodes and Pods as a cluster and a workload YAML (no Secrets, no env).
  whatif   a snapshot through every profile: today's pending Pods on the cluster as it is (how many
           each places, and where), and the bound Pods placed again from empty (allocation,
           fragmentation and stranded GPUs beside today's).

Every mode names its inputs alike: --nodes the cluster, --pods the workload (for gangs, the gang jobs),
--seeds the seed(s) and --profiles the profile(s) to run.

Inputs (by extension): .csv is an openb node or pod list (bad rows are skipped and counted, or an
error with --strict); .yaml/.yml is gpu-sim's cluster or workload format (pkg/sim/trace/README.md).

Profiles: every profile of --config (default ` + DefaultConfig + `), plus the baselines
"default" (kube-scheduler's LeastAllocated, spreading), "bestfit" (MostAllocated, GPUs weighted) and
"fgd" (FGD's fragmentation measure as published, ties by node order as in the paper's simulator).

Fractional GPUs: a pod asking for a share of one GPU (openb gpu_milli < 1000) is scheduled as the daemon
would (gpu-scheduler's GPUFit shares GPUs); allocation counts its share. The reports say how many there were.

Example:
  gpu-sim inflate --nodes openb_node_list_gpu_node.csv --pods openb_pod_list_default.csv \
      --seeds 42-51 --parallel 2 --out out/default
`

// newFlagSet declares mode's flags into o.
func newFlagSet(mode string, o *Options, output io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("gpu-sim "+mode, flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&o.Nodes, "nodes", "", "cluster: openb node list (.csv) or cluster YAML (.yaml/.yml) (required)")
	fs.StringVar(&o.Pods, "pods", "", "workload: openb pod list (.csv) or workload YAML (.yaml/.yml) (required)")
	fs.StringVar(&o.Config, "config", DefaultConfig, "KubeSchedulerConfiguration whose profiles are simulated")
	fs.String("profiles", "", `comma-separated profiles to run, among --config's and the baselines "default", "bestfit" and "fgd" (default: all)`)
	fs.String("seeds", "42", `seeds: "42", a range "42-51" or a list "1,5,9"`)
	fs.IntVar(&o.Parallel, "parallel", 1, "runs (profile x seed) to execute at once")
	fs.BoolVar(&o.Strict, "strict", false, "fail on the first bad CSV row instead of skipping and counting it")
	fs.StringVar(&o.Out, "out", "", "directory for summary.json, timelines and the chart (required)")
	switch mode {
	case ModeInflate:
		fs.Float64Var(&o.Ratio, "ratio", 1.3, "inflate the workload to this multiple of the cluster's GPUs")
	case ModeReplay:
		fs.IntVar(&o.RetryCap, "retry-cap", sim.DefaultRetryCap, "scheduling cycles spent, at most, on queued pods after each batch of deletions")
	}
	fs.Usage = func() {
		fmt.Fprintf(output, "Usage: gpu-sim %s [flags]\n\nFlags:\n", mode)
		fs.PrintDefaults()
		switch mode {
		case ModeInflate:
			fmt.Fprint(output, "\nExample:\n  gpu-sim inflate --nodes openb_node_list_gpu_node.csv --pods openb_pod_list_default.csv --seeds 42-51 --out out/default\n")
		case ModeReplay:
			fmt.Fprint(output, "\nExample:\n  gpu-sim replay --nodes openb_node_list_gpu_node.csv --pods openb_pod_list_default.csv --out out/replay\n")
		default:
			fmt.Fprint(output, "\nExample (a gpu-sim snapshot):\n  gpu-sim whatif --nodes snap/cluster.yaml --pods snap/workload.yaml --out snap/whatif\n")
		}
	}
	return fs
}

// ParseArgs parses the arguments after the mode. A help request returns flag.ErrHelp.
func ParseArgs(mode string, args []string, output io.Writer) (*Options, error) {
	if mode != ModeInflate && mode != ModeReplay && mode != ModeWhatIf {
		return nil, fmt.Errorf("unknown mode %q: want %s, %s, %s, %s or %s", mode, ModeInflate, ModeReplay, ModeWhatIf, ModeGangs, ModeSnapshot)
	}
	o := &Options{Mode: mode}
	fs := newFlagSet(mode, o, output)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "config" {
			o.ConfigSet = true
		}
	})
	var err error
	if o.Seeds, o.Profiles, err = parseListFlags(fs); err != nil {
		return nil, err
	}
	switch {
	case o.Nodes == "":
		return nil, errors.New("--nodes is required")
	case o.Pods == "":
		return nil, errors.New("--pods is required")
	case o.Out == "":
		return nil, errors.New("--out is required")
	case o.Parallel < 1:
		return nil, fmt.Errorf("--parallel %d: want 1 or more", o.Parallel)
	case o.Config == "":
		return nil, errors.New("--config is empty")
	}
	if mode == ModeInflate && (!(o.Ratio > 0) || o.Ratio > 100 || math.IsInf(o.Ratio, 0)) {
		return nil, fmt.Errorf("--ratio %v: want a number above 0 and at most 100, e.g. 1.3", o.Ratio)
	}
	if mode == ModeReplay && o.RetryCap < 1 {
		return nil, fmt.Errorf("--retry-cap %d: want 1 or more", o.RetryCap)
	}
	return o, nil
}

// renamedFlags maps the flag names gangs had before the modes shared one vocabulary to their
// replacements: an old name gets an error naming the new one rather than "flag provided but not defined".
var renamedFlags = map[string]string{"cluster": "nodes", "jobs": "pods", "seed": "seeds", "profile": "profiles"}

// parseFlags parses args into fs, refusing renamed flags and positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := checkRenamedFlags(fs, args); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags take the form --name value)", fs.Arg(0))
	}
	return nil
}

// checkRenamedFlags walks args as fs.Parse will (skipping the values of fs's flags, stopping at the
// first positional argument or "--") and fails on a name in renamedFlags.
func checkRenamedFlags(fs *flag.FlagSet, args []string) error {
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if len(arg) < 2 || arg[0] != '-' || arg == "--" {
			return nil
		}
		name, _, hasValue := strings.Cut(strings.TrimPrefix(arg[1:], "-"), "=")
		if to, ok := renamedFlags[name]; ok {
			return fmt.Errorf("--%s was renamed --%s", name, to)
		}
		if f := fs.Lookup(name); f != nil && !hasValue && !isBoolFlag(f) {
			i++
		}
	}
	return nil
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// parseListFlags reads the --seeds and --profiles every mode declares as strings.
func parseListFlags(fs *flag.FlagSet) (seeds []int64, profiles []string, err error) {
	if seeds, err = ParseSeeds(fs.Lookup("seeds").Value.String()); err != nil {
		return nil, nil, fmt.Errorf("--seeds: %w", err)
	}
	if profiles, err = ParseProfileList(fs.Lookup("profiles").Value.String()); err != nil {
		return nil, nil, fmt.Errorf("--profiles: %w", err)
	}
	return seeds, profiles, nil
}

// ParseSeeds reads "42", "42-51", "1,5,9" or a mix ("1,5-7"): non-negative integers, each once.
func ParseSeeds(s string) ([]int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New(`no seeds: want e.g. "42", "42-51" or "1,5,9"`)
	}
	var out []int64
	seen := map[int64]bool{}
	add := func(v int64) error {
		if seen[v] {
			return fmt.Errorf("seed %d appears twice", v)
		}
		if len(out) == MaxSeeds {
			return fmt.Errorf("more than %d seeds", MaxSeeds)
		}
		seen[v] = true
		out = append(out, v)
		return nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := parseSeed(lo, part)
		if err != nil {
			return nil, err
		}
		if !isRange {
			if err := add(a); err != nil {
				return nil, err
			}
			continue
		}
		b, err := parseSeed(hi, part)
		if err != nil {
			return nil, err
		}
		if b < a {
			return nil, fmt.Errorf("range %q ends before it starts", part)
		}
		if b-a >= MaxSeeds {
			return nil, fmt.Errorf("range %q has more than %d seeds", part, MaxSeeds)
		}
		for v := a; ; v++ {
			if err := add(v); err != nil {
				return nil, err
			}
			if v == b {
				break
			}
		}
	}
	return out, nil
}

func parseSeed(s, part string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, fmt.Errorf("%q is not a seed: want a non-negative integer, a range like 42-51 or a list like 1,5,9", part)
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("seed %q is too large", s)
	}
	return v, nil
}

// ParseProfileList splits --profiles: names, each once; empty means all.
func ParseProfileList(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []string
	seen := map[string]bool{}
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, fmt.Errorf("empty profile name in %q", s)
		}
		if seen[name] {
			return nil, fmt.Errorf("profile %q appears twice", name)
		}
		seen[name] = true
		out = append(out, name)
	}
	return out, nil
}

// ResolveProfiles turns the requested names into profiles: the config file's (in file order) and the
// built-in baselines. No names means all of them. The config file is read unless only baselines are
// requested and it was not given explicitly.
func ResolveProfiles(names []string, configPath string, configSet bool) ([]sim.Profile, error) {
	baselines := baselineNames()
	isBaseline := map[string]bool{}
	for _, b := range baselines {
		isBaseline[b] = true
	}
	needConfig := configSet || len(names) == 0
	for _, n := range names {
		if !isBaseline[n] {
			needConfig = true
		}
	}
	available := map[string]sim.Profile{}
	var order []string
	if needConfig {
		ps, err := sim.LoadProfiles(configPath)
		if err != nil {
			if !configSet && errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("%w (the default --config is relative to the repository root: pass --config FILE, or --profiles %s for the baselines only)",
					err, strings.Join(baselines, ","))
			}
			return nil, err
		}
		for _, p := range ps {
			if isBaseline[p.Name] {
				return nil, fmt.Errorf("profile %q of %s has the name of a built-in baseline; rename its schedulerName", p.Name, configPath)
			}
			if _, dup := available[p.Name]; dup {
				return nil, fmt.Errorf("profile %q appears twice in %s", p.Name, configPath)
			}
			available[p.Name] = p
			order = append(order, p.Name)
		}
	}
	for _, b := range baselines {
		p, err := sim.BaselineProfile(b)
		if err != nil {
			return nil, err
		}
		available[b] = p
		order = append(order, b)
	}
	if len(names) == 0 {
		names = order
	}
	out := make([]sim.Profile, 0, len(names))
	for _, n := range names {
		p, ok := available[n]
		if !ok {
			return nil, fmt.Errorf("unknown profile %q: available: %s", n, strings.Join(order, ", "))
		}
		out = append(out, p)
	}
	return out, nil
}

// baselineNames lists sim.Baselines: the known ones in baselineOrder, any others sorted after.
func baselineNames() []string {
	var out, rest []string
	for _, b := range baselineOrder {
		if _, ok := sim.Baselines[b]; ok {
			out = append(out, b)
		}
	}
	for b := range sim.Baselines {
		known := false
		for _, k := range baselineOrder {
			known = known || k == b
		}
		if !known {
			rest = append(rest, b)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}
