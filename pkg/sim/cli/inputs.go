package cli

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim/trace"
)

// Input formats.
const (
	FormatOpenB = "openb"
	FormatYAML  = "yaml"
)

// Inputs is a loaded cluster and workload.
type Inputs struct {
	NodesFile, PodsFile     string
	NodesFormat, PodsFormat string
	Cluster                 trace.Cluster
	Pods                    []trace.Pod
	// Skipped are the bad CSV rows left out (lenient loading).
	Skipped  []trace.RowError
	GPUTotal int64
	// Fractional counts the pods asking for a share of one GPU.
	Fractional int
}

// DetectFormat tells an input's format by its extension: .csv is openb, .yaml and .yml are gpu-sim's
// YAML formats.
func DetectFormat(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return FormatOpenB, nil
	case ".yaml", ".yml":
		return FormatYAML, nil
	}
	return "", fmt.Errorf("%s: unknown format: want .csv (openb trace) or .yaml/.yml (gpu-sim cluster or workload)", path)
}

// LoadInputs reads the cluster and the workload. CSV rows that cannot be used are skipped and
// returned unless strict; a missing file, a bad header, invalid YAML, or nothing usable is an error.
func LoadInputs(nodesPath, podsPath string, strict bool) (*Inputs, error) {
	in := &Inputs{NodesFile: nodesPath, PodsFile: podsPath}
	opts := trace.Options{Lenient: !strict}
	var err error
	if in.NodesFormat, err = DetectFormat(nodesPath); err != nil {
		return nil, fmt.Errorf("--nodes %w", err)
	}
	if in.PodsFormat, err = DetectFormat(podsPath); err != nil {
		return nil, fmt.Errorf("--pods %w", err)
	}
	var skips []trace.RowError
	if in.NodesFormat == FormatOpenB {
		in.Cluster.Nodes, skips, err = trace.LoadOpenBNodes(nodesPath, opts)
	} else {
		in.Cluster, err = trace.LoadClusterYAML(nodesPath)
	}
	if err != nil {
		return nil, fmt.Errorf("--nodes: %w", err)
	}
	in.Skipped = append(in.Skipped, skips...)
	if in.PodsFormat == FormatOpenB {
		in.Pods, skips, err = trace.LoadOpenBPods(podsPath, opts)
	} else {
		in.Pods, err = trace.LoadWorkloadYAML(podsPath)
	}
	if err != nil {
		return nil, fmt.Errorf("--pods: %w", err)
	}
	in.Skipped = append(in.Skipped, skips...)
	if len(in.Cluster.Nodes) == 0 {
		return nil, fmt.Errorf("--nodes %s: no usable nodes%s", nodesPath, skippedNote(in.Skipped))
	}
	if len(in.Pods) == 0 {
		return nil, fmt.Errorf("--pods %s: no usable pods%s", podsPath, skippedNote(in.Skipped))
	}
	if in.GPUTotal = in.Cluster.GPUs(); in.GPUTotal == 0 {
		return nil, fmt.Errorf("--nodes %s: the cluster has no GPUs (%s)", nodesPath, gpu.ResourceName)
	}
	for i := range in.Pods {
		if m := in.Pods[i].GPUMilli; m > 0 && m < gpu.MilliPerGPU {
			in.Fractional++
		}
	}
	return in, nil
}

func skippedNote(skips []trace.RowError) string {
	if len(skips) == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d rows skipped, first: %s)", len(skips), skips[0].Error())
}

// SkipCounts groups skipped rows by file, column and reason.
func SkipCounts(skips []trace.RowError) map[string]int {
	out := map[string]int{}
	for i := range skips {
		out[skips[i].File+": "+skips[i].Key()]++
	}
	return out
}

// ReportSkips writes a short account of the skipped rows: counts by reason and the first examples.
func ReportSkips(w io.Writer, skips []trace.RowError) {
	if len(skips) == 0 {
		return
	}
	counts := SkipCounts(skips)
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		if counts[keys[a]] != counts[keys[b]] {
			return counts[keys[a]] > counts[keys[b]]
		}
		return keys[a] < keys[b]
	})
	fmt.Fprintf(w, "gpu-sim: skipped %d unusable input rows (--strict makes them errors):\n", len(skips))
	for _, k := range keys {
		fmt.Fprintf(w, "  %6d  %s\n", counts[k], k)
	}
	const examples = 3
	fmt.Fprintln(w, "  first:")
	for i := 0; i < len(skips) && i < examples; i++ {
		fmt.Fprintf(w, "    %s\n", skips[i].Error())
	}
}
