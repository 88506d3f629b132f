package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"

	v1 "k8s.io/api/core/v1"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim/trace"
)

// ModeGangs is the gangs subcommand.
const ModeGangs = "gangs"

// CoschedulingProfile names the comparison profile of gangs: the gpu-scheduler profile without
// Interconnect's topology levels, i.e. plain Coscheduling.
const CoschedulingProfile = "coscheduling"

// GangsSummaryFile is the summary gangs writes into --out.
const GangsSummaryFile = "gangs-summary.json"

// MaxGenerate bounds --generate.
const MaxGenerate = sim.MaxGangJobs

// GangsOptions is one parsed gangs command line.
type GangsOptions struct {
	Nodes        string // cluster YAML
	Pods         string // gang jobs YAML, or "" with Generate
	Generate     int
	Seed         int64
	Load         float64
	MeanDuration float64
	Config       string
	Profile      string
	Out          string
}

// GangsUsage is the gangs subcommand's help.
const GangsUsage = `Usage: gpu-sim gangs --nodes FILE (--pods FILE | --generate N [--load 0.9] [--mean-duration 3600])
                     [--seeds 42] [--config FILE] [--profiles gpu-scheduler] --out DIR

Gang jobs (PodGroups, all or nothing) in time: a job arrives, is placed whole with ScheduleGang or
waits in a FIFO queue, retried (head first, every job that fits) whenever jobs finish. Two profiles:
the one --profiles names in --config, and "coscheduling": the same profile with Interconnect's
topologyLevels empty (plain Coscheduling: all or nothing, but blind to where members land). Reports per
profile the share of multi-pod jobs inside one domain of each topology level the cluster's nodes carry,
jobs whose required level was broken, job wait (mean, p95), GPU allocation over time and jobs never
placed; writes DIR/gangs-summary.json and DIR/gangs-timeline-<profile>.csv.

--pods, a gang jobs YAML (examples/sim/gang-jobs.yaml):
  jobs:
  - name: llm             # required; with count, jobs llm-0 .. llm-(count-1)
    count: 4
    pods: 4               # gang size (the PodGroup's minMember)
    gpusPerPod: 8
    cpu: "32"             # per pod, optional; memory too
    topologyRequired: ib-fabric   # or topologyPreferred: ib-leaf (a level of --config)
    arrival: 0            # seconds; copy k arrives at arrival + k x interval
    interval: 600
    duration: 7200        # seconds of running once placed

--generate N: N jobs of 1..8 pods x 1/2/4/8 GPUs (uniform), multi-pod jobs requiring one ib-fabric or
preferring one ib-leaf (even odds), Poisson arrivals offering --load x the cluster's GPUs, exponential
durations of mean --mean-duration seconds (at least 60); the same seed makes the same jobs. gangs runs
one seed (--seeds 42): to compare several, run it once per seed.

Flags:
`

func newGangsFlagSet(o *GangsOptions, output io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("gpu-sim gangs", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&o.Nodes, "nodes", "", "cluster YAML with topology labels on the nodes (required)")
	fs.StringVar(&o.Pods, "pods", "", "gang jobs YAML (or --generate)")
	fs.IntVar(&o.Generate, "generate", 0, "generate this many jobs instead of reading --pods")
	fs.String("seeds", "42", `the seed of --generate and of the ties between equally scored nodes: one, e.g. "42" (gangs refuses a range or list)`)
	fs.Float64Var(&o.Load, "load", 0.9, "--generate: offered load, a multiple of the cluster's GPUs")
	fs.Float64Var(&o.MeanDuration, "mean-duration", 3600, "--generate: mean job duration, seconds")
	fs.StringVar(&o.Config, "config", DefaultConfig, "KubeSchedulerConfiguration holding --profiles")
	fs.String("profiles", "gpu-scheduler", "the profile of --config to compare with plain coscheduling (one name)")
	fs.StringVar(&o.Out, "out", "", "directory for gangs-summary.json and the timelines (required)")
	fs.Usage = func() {
		fmt.Fprint(output, GangsUsage)
		fs.PrintDefaults()
	}
	return fs
}

// ParseGangsArgs parses the arguments after "gangs". A help request returns flag.ErrHelp.
func ParseGangsArgs(args []string, output io.Writer) (*GangsOptions, error) {
	o := &GangsOptions{}
	fs := newGangsFlagSet(o, output)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	seeds, profiles, err := parseListFlags(fs)
	if err != nil {
		return nil, err
	}
	if len(seeds) > 1 {
		return nil, fmt.Errorf("--seeds %s: gangs runs one seed; run it once per seed", fs.Lookup("seeds").Value)
	}
	if len(profiles) != 1 {
		return nil, fmt.Errorf("--profiles %q: gangs compares one profile of --config with its plain-Coscheduling twin", fs.Lookup("profiles").Value)
	}
	o.Seed, o.Profile = seeds[0], profiles[0]
	switch {
	case o.Nodes == "":
		return nil, errors.New("--nodes is required")
	case o.Pods == "" && o.Generate == 0:
		return nil, errors.New("--pods FILE or --generate N is required")
	case o.Pods != "" && o.Generate != 0:
		return nil, errors.New("--pods and --generate are mutually exclusive")
	case o.Generate < 0 || o.Generate > MaxGenerate:
		return nil, fmt.Errorf("--generate %d: want 1 to %d", o.Generate, MaxGenerate)
	case !(o.Load > 0) || o.Load > 100 || math.IsInf(o.Load, 0):
		return nil, fmt.Errorf("--load %v: want a number above 0 and at most 100", o.Load)
	case !(o.MeanDuration >= 1) || math.IsInf(o.MeanDuration, 0) || o.MeanDuration > 1e9:
		return nil, fmt.Errorf("--mean-duration %v: want 1 to 1e9 seconds", o.MeanDuration)
	case o.Config == "":
		return nil, errors.New("--config is empty")
	case o.Out == "":
		return nil, errors.New("--out is required")
	}
	return o, nil
}

// GangsGenerate records the generator's arguments in the summary.
type GangsGenerate struct {
	Jobs         int     `json:"jobs"`
	Seed         int64   `json:"seed"`
	Load         float64 `json:"load"`
	MeanDuration float64 `json:"mean_duration_s"`
}

// GangsSummary is gangs-summary.json.
type GangsSummary struct {
	Mode      string            `json:"mode"`
	Version   string            `json:"version,omitempty"`
	Cluster   string            `json:"cluster"`
	NodeCount int               `json:"node_count"`
	GPUTotal  int64             `json:"gpu_total"`
	Jobs      string            `json:"jobs,omitempty"`
	Generate  *GangsGenerate    `json:"generate,omitempty"`
	JobCount  int               `json:"job_count"`
	JobGPUs   int64             `json:"job_gpus_total"`
	MultiPod  int               `json:"multi_pod_jobs"`
	Seed      int64             `json:"seed"`
	Config    string            `json:"config"`
	Profiles  []string          `json:"profiles"`
	Runs      []*sim.GangResult `json:"runs"`
}

// GangProfiles returns --profiles of the config file and its plain-Coscheduling twin.
func GangProfiles(configPath, name string) ([]sim.Profile, error) {
	ps, err := sim.LoadProfiles(configPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w (the default --config is relative to the repository root: pass --config FILE)", err)
		}
		return nil, err
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
		if p.Name != name {
			continue
		}
		if len(sim.TopologyLevels(p)) == 0 {
			return nil, fmt.Errorf("profile %s of %s has no Interconnect topologyLevels: nothing to compare", name, configPath)
		}
		plain, err := sim.WithoutTopology(p, CoschedulingProfile)
		if err != nil {
			return nil, err
		}
		return []sim.Profile{p, plain}, nil
	}
	return nil, fmt.Errorf("no profile %q in %s (profiles: %s)", name, configPath, strings.Join(names, ", "))
}

// RunGangs executes a parsed gangs command line: it writes the outputs into o.Out and a table to
// stdout, and returns the summary.
func RunGangs(ctx context.Context, o *GangsOptions, stdout, stderr io.Writer, version string) (*GangsSummary, error) {
	profiles, err := GangProfiles(o.Config, o.Profile)
	if err != nil {
		return nil, err
	}
	levels := sim.TopologyLevels(profiles[0])
	if f, err := DetectFormat(o.Nodes); err != nil || f != FormatYAML {
		return nil, fmt.Errorf("--nodes %s: want a cluster YAML file (.yaml/.yml)", o.Nodes)
	}
	cluster, err := trace.LoadClusterYAML(o.Nodes)
	if err != nil {
		return nil, fmt.Errorf("--nodes: %w", err)
	}
	nodes := cluster.Nodes
	gpus := cluster.GPUs()
	if gpus == 0 {
		return nil, fmt.Errorf("--nodes %s: the cluster has no GPUs (%s)", o.Nodes, gpu.ResourceName)
	}
	sum := &GangsSummary{Mode: ModeGangs, Version: version, Cluster: o.Nodes, NodeCount: len(nodes), GPUTotal: gpus,
		Seed: o.Seed, Config: o.Config}
	var jobs []sim.GangJob
	if o.Pods != "" {
		if jobs, err = sim.LoadGangJobsYAML(o.Pods); err != nil {
			return nil, fmt.Errorf("--pods: %w", err)
		}
		sum.Jobs = o.Pods
	} else {
		jobs = sim.GenerateGangJobs(o.Generate, o.Seed, gpus, o.Load, o.MeanDuration)
		sum.Generate = &GangsGenerate{Jobs: o.Generate, Seed: o.Seed, Load: o.Load, MeanDuration: o.MeanDuration}
	}
	if err := sim.CheckGangJobLevels(jobs, levels); err != nil {
		return nil, fmt.Errorf("--pods: %w", err)
	}
	sum.JobCount = len(jobs)
	for i := range jobs {
		sum.JobGPUs += jobs[i].GPUs()
		if jobs[i].Pods > 1 {
			sum.MultiPod++
		}
	}
	warnUnlabelled(stderr, nodes, levels, jobs)
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, fmt.Errorf("--out: %w", err)
	}
	fmt.Fprintf(stderr, "gpu-sim gangs: %d nodes, %d GPUs (%s); %d jobs (%d of several pods), %d GPUs in all; profiles %s, %s; seed %d\n",
		len(nodes), gpus, o.Nodes, len(jobs), sum.MultiPod, sum.JobGPUs, profiles[0].Name, profiles[1].Name, o.Seed)
	for _, p := range profiles {
		res, err := sim.RunGangs(ctx, p, cluster, jobs, levels, o.Seed, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.Name, err)
		}
		fmt.Fprintf(stderr, "  %-14s placed %d/%d  wait mean %.0fs p95 %.0fs  alloc mean %.2f%%  %d gang attempts  %.1fs\n",
			res.Profile, res.JobsPlaced, res.Jobs, res.WaitMean, res.WaitP95, res.AllocPctMean, res.GangAttempts, res.WallSeconds)
		sum.Profiles = append(sum.Profiles, p.Name)
		sum.Runs = append(sum.Runs, res)
		if err := writeTimePoints(outPath(o.Out, "gangs-timeline-"+fileName(p.Name)+".csv"), "time_s,alloc_pct,running_jobs,queued_jobs", res.Timeline); err != nil {
			return nil, err
		}
	}
	if err := writeJSON(outPath(o.Out, GangsSummaryFile), sum); err != nil {
		return nil, err
	}
	PrintGangsTable(stdout, sum.Runs)
	fmt.Fprintf(stderr, "gpu-sim: wrote %s: %s, %d gangs-timeline-*.csv\n", o.Out, GangsSummaryFile, len(sum.Runs))
	return sum, nil
}

// warnUnlabelled says when no node carries the label of a level the jobs name: such jobs cannot be
// placed (required) or gain nothing (preferred).
func warnUnlabelled(w io.Writer, nodes []*v1.Node, levels []sim.TopologyLevel, jobs []sim.GangJob) {
	named := map[string]bool{}
	for i := range jobs {
		named[jobs[i].TopologyRequired] = true
		named[jobs[i].TopologyPreferred] = true
	}
	for _, l := range levels {
		if !named[l.Name] {
			continue
		}
		carried := false
		for _, n := range nodes {
			if _, ok := n.Labels[l.NodeLabel]; ok {
				carried = true
				break
			}
		}
		if !carried {
			fmt.Fprintf(w, "gpu-sim gangs: warning: jobs name topology level %s, but no node has its label %s\n", l.Name, l.NodeLabel)
		}
	}
}

// PrintGangsTable writes one row per profile.
func PrintGangsTable(w io.Writer, runs []*sim.GangResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := "profile\tjobs\tplaced\tnever placed"
	if len(runs) > 0 {
		for _, l := range runs[0].Inside {
			header += "\tin one " + l.Level
		}
	}
	fmt.Fprintln(tw, header+"\trequired broken\twait mean s\twait p95 s\talloc% mean\tmakespan s")
	for _, r := range runs {
		row := fmt.Sprintf("%s\t%d\t%d\t%d", r.Profile, r.Jobs, r.JobsPlaced, r.JobsNever)
		for _, l := range r.Inside {
			row += fmt.Sprintf("\t%.1f%% (%d/%d)", l.Share, l.Inside, r.MultiPlaced)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.2f\t%d\n", row, r.RequiredBroken, r.WaitMean, r.WaitP95, r.AllocPctMean, r.Makespan)
	}
	tw.Flush()
}

// mainGangs runs the gangs subcommand: 0 success, 1 a failed run, 2 a bad command line.
func mainGangs(ctx context.Context, args []string, stdout, stderr io.Writer, version string) int {
	o, err := ParseGangsArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "gpu-sim gangs: %v\nRun 'gpu-sim gangs --help' for usage.\n", err)
		return 2
	}
	if _, err := RunGangs(ctx, o, stdout, stderr, version); err != nil {
		fmt.Fprintf(stderr, "gpu-sim gangs: %v\n", err)
		return 1
	}
	return 0
}
