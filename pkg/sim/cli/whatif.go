package cli

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"text/tabwriter"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim/trace"
)

// Files whatif writes into --out.
const (
	WhatIfSummaryFile    = "whatif.json"
	WhatIfPlacementsFile = "placements.csv"
	WhatIfChartFile      = "whatif.svg"
)

// WhatIfSummary is whatif.json.
type WhatIfSummary struct {
	Mode     string              `json:"mode"`
	Version  string              `json:"version,omitempty"`
	Nodes    string              `json:"nodes"`
	Pods     string              `json:"pods"`
	Bound    int                 `json:"pods_bound"`
	Pending  int                 `json:"pods_pending"`
	Profiles []string            `json:"profiles"`
	Seeds    []int64             `json:"seeds"`
	Runs     []*sim.WhatIfResult `json:"runs"`
}

// RunWhatIf runs every profile with every seed on a snapshot (sim.WhatIf), writes whatif.json,
// placements.csv (profile, seed, pending Pod, node) and whatif.svg into o.Out and a table to stdout.
func RunWhatIf(ctx context.Context, o *Options, stdout, stderr io.Writer, version string) (*WhatIfSummary, error) {
	profiles, err := ResolveProfiles(o.Profiles, o.Config, o.ConfigSet)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct{ flag, path string }{{"--nodes", o.Nodes}, {"--pods", o.Pods}} {
		if format, err := DetectFormat(f.path); err != nil || format != FormatYAML {
			return nil, fmt.Errorf("%s %s: want the YAML gpu-sim snapshot wrote", f.flag, f.path)
		}
	}
	cluster, err := trace.LoadClusterYAML(o.Nodes)
	if err != nil {
		return nil, fmt.Errorf("--nodes: %w", err)
	}
	pods, err := trace.LoadWorkloadYAML(o.Pods)
	if err != nil {
		return nil, fmt.Errorf("--pods: %w", err)
	}
	sum := &WhatIfSummary{Mode: ModeWhatIf, Version: version, Nodes: o.Nodes, Pods: o.Pods, Seeds: o.Seeds}
	for i := range pods {
		if pods[i].Node != "" {
			sum.Bound++
		} else {
			sum.Pending++
		}
	}
	if sum.Bound == 0 {
		return nil, fmt.Errorf("--pods %s: no Pod names its node: want a workload gpu-sim snapshot wrote", o.Pods)
	}
	for _, p := range profiles {
		sum.Profiles = append(sum.Profiles, p.Name)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, fmt.Errorf("--out: %w", err)
	}
	runs := len(o.Seeds) * len(profiles)
	fmt.Fprintf(stderr, "gpu-sim whatif: %d nodes, %d GPUs (%s); %d Pods bound, %d pending (%s); profiles %v; %d seeds\n",
		len(cluster.Nodes), cluster.GPUs(), o.Nodes, sum.Bound, sum.Pending, o.Pods, sum.Profiles, len(o.Seeds))
	bar := newProgress(stderr, runs)
	defer bar.stop()
	sum.Runs, err = runJobs(ctx, o.Parallel, runs, bar, func(ctx context.Context, j int, _ func(done, total int)) (*sim.WhatIfResult, error) {
		si, pi := j/len(profiles), j%len(profiles)
		res, err := sim.WhatIf(ctx, profiles[pi], cluster, pods, o.Seeds[si])
		if err != nil {
			return nil, fmt.Errorf("%s, seed %d: %w", profiles[pi].Name, o.Seeds[si], err)
		}
		return res, nil
	})
	bar.stop()
	if err != nil {
		return nil, err
	}
	if err := writeWhatIf(o.Out, sum); err != nil {
		return nil, err
	}
	printWhatIf(stdout, sum)
	return sum, nil
}

func writeWhatIf(dir string, sum *WhatIfSummary) error {
	if err := writeJSON(filepath.Join(dir, WhatIfSummaryFile), sum); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, WhatIfPlacementsFile))
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"profile", "seed", "pod", "node"})
	for _, r := range sum.Runs {
		names := make([]string, 0, len(r.Placements))
		for pod := range r.Placements {
			names = append(names, pod)
		}
		sort.Strings(names)
		for _, pod := range names {
			_ = w.Write([]string{r.Profile, strconv.FormatInt(r.Seed, 10), pod, r.Placements[pod]})
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return fmt.Errorf("--out: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, WhatIfChartFile), whatIfChart(sum).SVG(), 0o644); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	return nil
}

// whatIfChart sets today's cluster beside each profile's placement from empty (its seeds' mean):
// GPU allocation, fragmentation and stranded GPUs. Today is one series when every profile keeps
// the bound Pods alike (the live cluster), else one per profile.
func whatIfChart(sum *WhatIfSummary) *BarChart {
	c := &BarChart{
		Title:  "gpu-sim whatif: today's cluster and the bound Pods placed again from empty",
		YLabel: "% of the cluster's GPUs",
		YMax:   100,
		Groups: []string{"GPU allocation", "fragmented GPUs", "stranded GPUs"},
	}
	today := func(r *sim.WhatIfResult) []float64 {
		return []float64{r.LiveAllocPct, r.LiveFragPct, r.LiveStrandedPct}
	}
	fromEmpty := func(r *sim.WhatIfResult) []float64 { return []float64{r.AllocPct, r.FragPct, r.StrandedPct} }
	alike := true
	for _, r := range sum.Runs {
		alike = alike && slices.Equal(today(r), today(sum.Runs[0]))
	}
	if alike && len(sum.Runs) > 0 {
		c.Series = append(c.Series, BarSeries{Name: "today", Values: today(sum.Runs[0])})
	} else {
		for _, p := range sum.Profiles {
			c.Series = append(c.Series, BarSeries{Name: "today, as " + p + " keeps it", Values: meanOf(sum.Runs, p, today)})
		}
	}
	for _, p := range sum.Profiles {
		c.Series = append(c.Series, BarSeries{Name: "from empty: " + p, Values: meanOf(sum.Runs, p, fromEmpty)})
	}
	return c
}

// meanOf is the mean over profile's runs of what value reads of each.
func meanOf(runs []*sim.WhatIfResult, profile string, value func(*sim.WhatIfResult) []float64) []float64 {
	var sum []float64
	n := 0
	for _, r := range runs {
		if r.Profile != profile {
			continue
		}
		v := value(r)
		if sum == nil {
			sum = make([]float64, len(v))
		}
		for i := range v {
			sum[i] += v[i]
		}
		n++
	}
	for i := range sum {
		sum[i] /= float64(n)
	}
	return sum
}

func printWhatIf(w io.Writer, sum *WhatIfSummary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "profile\tseed\ttoday: alloc%\tfrag%\tstranded%\tpending GPU Pods placed\tpending placed\tbound against policy\tbound without room\tfrom empty: alloc%\tfrag%\tstranded%\tfailed")
	for _, r := range sum.Runs {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.2f\t%d/%d\t%d/%d\t%d\t%d\t%.2f\t%.2f\t%.2f\t%d\n", r.Profile, r.Seed, r.LiveAllocPct, r.LiveFragPct, r.LiveStrandedPct,
			r.PendingGPUPlaced, r.PendingGPU, r.PendingPlaced, r.Pending, r.KeptAgainstPolicy, r.WithoutRoom, r.AllocPct, r.FragPct, r.StrandedPct, r.ReplacedFail)
	}
	tw.Flush()
}
