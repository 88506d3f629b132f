package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"
	"time"

	resourceapi "k8s.io/api/resource/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/scheduler-plugins/apis/scheduling/v1alpha1"
	pgclientset "sigs.k8s.io/scheduler-plugins/pkg/generated/clientset/versioned"
	"sigs.k8s.io/yaml"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim/trace"
)

// ModeSnapshot is the snapshot subcommand.
const ModeSnapshot = "snapshot"

// Files snapshot writes into --out.
const (
	SnapshotClusterFile  = "cluster.yaml"
	SnapshotWorkloadFile = "workload.yaml"
	SnapshotSummaryFile  = "snapshot.json"
)

// snapshotTimeout bounds each API call: an unreachable cluster fails in seconds, not minutes.
const snapshotTimeout = 30 * time.Second

// SnapshotUsage is the snapshot subcommand's help.
const SnapshotUsage = `Usage: gpu-sim snapshot [--kubeconfig FILE] [--namespace NS] --out DIR

Reads a live cluster's Nodes (allocatable, labels, taints; GPUs from nvidia.com/gpu or, without it, from
the ResourceSlices of NVIDIA's DRA driver), Pods (requests, gpu-scheduler's annotations, labels,
tolerations, creation time) and PodGroups (minMember) into gpu-sim's YAML formats: DIR/cluster.yaml and
DIR/workload.yaml, Pods in creation order and PodGroups named <namespace>.<name>, plus
DIR/snapshot.json (counts, the live GPU allocation).
Nothing else is copied: no env values, volumes, Secrets or other annotations. Finished Pods and Pods
being deleted are left out and counted.

Ask what every profile would do on it (today's pending Pods; the bound Pods placed again from empty):
  gpu-sim whatif --nodes DIR/cluster.yaml --pods DIR/workload.yaml --out DIR/whatif

Flags:
`

// SnapshotOptions is one parsed snapshot command line.
type SnapshotOptions struct {
	Kubeconfig string // empty: $KUBECONFIG or ~/.kube/config
	Namespace  string // empty: every namespace
	Out        string
}

// ParseSnapshotArgs parses the arguments after "snapshot". A help request returns flag.ErrHelp.
func ParseSnapshotArgs(args []string, output io.Writer) (*SnapshotOptions, error) {
	o := &SnapshotOptions{}
	fs := flag.NewFlagSet("gpu-sim snapshot", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&o.Namespace, "namespace", "", "read the Pods of this namespace only (default: every namespace)")
	fs.StringVar(&o.Out, "out", "", "directory for cluster.yaml, workload.yaml and snapshot.json (required)")
	fs.Usage = func() {
		fmt.Fprint(output, SnapshotUsage)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if o.Out == "" {
		return nil, errors.New("--out is required")
	}
	return o, nil
}

// SnapshotSummary is snapshot.json.
type SnapshotSummary struct {
	Mode       string         `json:"mode"`
	Version    string         `json:"version,omitempty"`
	Server     string         `json:"server"`
	Namespace  string         `json:"namespace,omitempty"`
	Nodes      int            `json:"nodes"`
	GPUNodes   int            `json:"gpu_nodes"`
	DRANodes   int            `json:"dra_nodes"`
	GPUTotal   int64          `json:"gpu_total"`
	Bound      int            `json:"pods_bound"`
	Pending    int            `json:"pods_pending"`
	BoundGPU   int            `json:"gpu_pods_bound"`
	PendingGPU int            `json:"gpu_pods_pending"`
	AllocPct   float64        `json:"live_gpu_alloc_pct"`
	Skipped    map[string]int `json:"skipped_pods"`
	// PodGroups are the gangs written; SkippedGroups those left out (trace.Snapshot.SkippedGroups).
	PodGroups     int    `json:"pod_groups"`
	SkippedGroups int    `json:"skipped_pod_groups,omitempty"`
	PodGroupsNote string `json:"pod_groups_note,omitempty"`
}

func mainSnapshot(ctx context.Context, args []string, stdout, stderr io.Writer, version string) int {
	o, err := ParseSnapshotArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "gpu-sim snapshot: %v\nRun 'gpu-sim snapshot --help' for usage.\n", err)
		return 2
	}
	if _, err := RunSnapshot(ctx, o, stdout, version); err != nil {
		fmt.Fprintf(stderr, "gpu-sim snapshot: %v\n", err)
		return 1
	}
	return 0
}

// RunSnapshot reads the cluster o names, writes the snapshot into o.Out and a short table to stdout.
func RunSnapshot(ctx context.Context, o *SnapshotOptions, stdout io.Writer, version string) (*SnapshotSummary, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.Kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig: %w", err)
	}
	cfg.Timeout = snapshotTimeout
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig: %w", err)
	}
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing nodes at %s: %w", cfg.Host, err)
	}
	pods, err := client.CoreV1().Pods(o.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing pods at %s: %w", cfg.Host, err)
	}
	// Without the DRA API, or the right to read it, GPUs are the device plugin's alone.
	var slices []resourceapi.ResourceSlice
	switch list, err := client.ResourceV1().ResourceSlices().List(ctx, metav1.ListOptions{}); {
	case err == nil:
		slices = list.Items
	case apierrors.IsNotFound(err), apierrors.IsForbidden(err):
	default:
		return nil, fmt.Errorf("listing resourceslices at %s: %w", cfg.Host, err)
	}
	// Without the PodGroup CRD there are no gangs; without the right to read PodGroups, gangs are
	// placed member by member, and the summary says so.
	var groups []v1alpha1.PodGroup
	var groupsNote string
	groupClient, err := pgclientset.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig: %w", err)
	}
	switch list, err := groupClient.SchedulingV1alpha1().PodGroups(o.Namespace).List(ctx, metav1.ListOptions{}); {
	case err == nil:
		groups = list.Items
	case apierrors.IsNotFound(err):
	case apierrors.IsForbidden(err):
		groupsNote = "PodGroups not readable (forbidden): gang members are placed one by one"
	default:
		return nil, fmt.Errorf("listing podgroups at %s: %w", cfg.Host, err)
	}
	snap, err := trace.SnapshotOf(nodes.Items, pods.Items, slices, groups)
	if err != nil {
		return nil, err
	}
	sum := &SnapshotSummary{Mode: ModeSnapshot, Version: version, Server: cfg.Host, Namespace: o.Namespace, Nodes: len(snap.Cluster.Nodes),
		GPUTotal: snap.GPUs, Bound: snap.Bound, Pending: snap.Pending, BoundGPU: snap.BoundGPU, PendingGPU: snap.PendingGPU, Skipped: snap.Skipped,
		PodGroups: len(snap.Workload.PodGroups), SkippedGroups: snap.SkippedGroups, PodGroupsNote: groupsNote}
	for _, n := range snap.Cluster.Nodes {
		if n.GPUs > 0 {
			sum.GPUNodes++
		}
		if n.DRA {
			sum.DRANodes++
		}
	}
	if snap.GPUs > 0 {
		sum.AllocPct = 100 * float64(snap.HeldMilli) / float64(snap.GPUs*1000)
	}
	if err := writeSnapshot(o.Out, snap, sum); err != nil {
		return nil, err
	}
	printSnapshot(stdout, o.Out, sum)
	return sum, nil
}

func writeSnapshot(dir string, snap *trace.Snapshot, sum *SnapshotSummary) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	files := []struct {
		name string
		v    any
		json bool
	}{{SnapshotClusterFile, snap.Cluster, false}, {SnapshotWorkloadFile, snap.Workload, false}, {SnapshotSummaryFile, sum, true}}
	for _, f := range files {
		var data []byte
		var err error
		if f.json {
			data, err = json.MarshalIndent(f.v, "", "  ")
		} else {
			data, err = yaml.Marshal(f.v)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), data, 0o644); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	return nil
}

func printSnapshot(w io.Writer, dir string, sum *SnapshotSummary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "nodes\t%d (%d with GPUs, %d DRA)\n", sum.Nodes, sum.GPUNodes, sum.DRANodes)
	fmt.Fprintf(tw, "GPUs\t%d, %.2f%% held by bound Pods\n", sum.GPUTotal, sum.AllocPct)
	fmt.Fprintf(tw, "pods bound\t%d (%d asking for GPUs)\n", sum.Bound, sum.BoundGPU)
	fmt.Fprintf(tw, "pods pending\t%d (%d asking for GPUs)\n", sum.Pending, sum.PendingGPU)
	reasons := make([]string, 0, len(sum.Skipped))
	for r := range sum.Skipped {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Fprintf(tw, "pods left out\t%d %s\n", sum.Skipped[r], r)
	}
	fmt.Fprintf(tw, "pod groups\t%d", sum.PodGroups)
	if sum.SkippedGroups > 0 {
		fmt.Fprintf(tw, " (%d left out: minMember below 1, or a name too long)", sum.SkippedGroups)
	}
	if sum.PodGroupsNote != "" {
		fmt.Fprintf(tw, " (%s)", sum.PodGroupsNote)
	}
	fmt.Fprintln(tw)
	tw.Flush()
	fmt.Fprintf(w, "wrote %s: %s, %s, %s\n", dir, SnapshotClusterFile, SnapshotWorkloadFile, SnapshotSummaryFile)
}
