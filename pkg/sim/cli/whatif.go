package cli

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
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

// RunWhatIf runs every profile with every seed on a snapshot (sim.WhatIf), writes whatif.json and
// placements.csv (profile, seed, pending Pod, node) into o.Out and a table to stdout.
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
	return f.Close()
}

func printWhatIf(w io.Writer, sum *WhatIfSummary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "profile\tseed\ttoday: alloc%\tfrag%\tpending GPU Pods placed\tpending placed\tbound no longer fit\tfrom empty: alloc%\tfrag%\tfailed")
	for _, r := range sum.Runs {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%d/%d\t%d/%d\t%d\t%.2f\t%.2f\t%d\n", r.Profile, r.Seed, r.LiveAllocPct, r.LiveFragPct,
			r.PendingGPUPlaced, r.PendingGPU, r.PendingPlaced, r.Pending, r.NoLongerFit, r.AllocPct, r.FragPct, r.ReplacedFail)
	}
	tw.Flush()
}
