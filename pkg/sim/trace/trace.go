// Package trace turns workload descriptions into the *v1.Node and *v1.Pod objects that gpu-sim replays
// through the scheduler framework: the Alibaba openb trace (cluster-trace-gpu-v2023) CSV files, and a
// small YAML format for users' own clusters and workloads. See README.md for both formats.
//
// Objects follow the conventions of package gpu: whole GPUs are the gpu.ResourceName extended resource,
// a share of one GPU is the gpu.FractionAnnotation (and no gpu.ResourceName request), accepted models are
// the gpu.ModelAnnotation, and a node's GPU model is its gpu.DefaultModelLabel.
package trace

import (
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
)

const (
	// Namespace is the namespace of every Pod this package creates.
	Namespace = "default"

	// MaxObjects caps the nodes or pods one file may produce, to refuse absurd input early.
	MaxObjects = 1_000_000

	// MaxGPUsPerObject caps the whole GPUs one node offers or one pod requests. It is far above any
	// real machine and keeps GPU-milli sums far from overflowing int64.
	MaxGPUsPerObject = 1 << 16

	// ContainerName is the name of the single container of every Pod this package creates.
	ContainerName = "main"

	// NoTime marks an absent DeletedAt (or ScheduledAt).
	NoTime int64 = -1
)

// Pod is one workload pod with its place in time.
type Pod struct {
	// Pod is the object to schedule. UID is Namespace/Name, unique within one load.
	Pod *v1.Pod
	// GPUMilli is the pod's GPU demand in thousandths of a GPU (gpu.PodDemand): whole GPUs x 1000,
	// or the fraction's milli.
	GPUMilli int64
	// CreatedAt is when the pod arrives, in seconds from the trace start (0 when the trace has no times).
	CreatedAt int64
	// DeletedAt is when the pod leaves, in seconds from the trace start, or NoTime when it never does.
	DeletedAt int64
	// ScheduledAt is when the original cluster started the pod (openb only), or NoTime.
	ScheduledAt int64
	// QoS and Phase are the openb qos and pod_phase columns, empty elsewhere. Informational only.
	QoS, Phase string
	// Node held the Pod when a snapshot was taken (gpu-sim whatif); empty for a pending Pod and
	// outside snapshots.
	Node string
	// Gang is the PodGroup the Pod belongs to (its scheduling.x-k8s.io/pod-group label names one the
	// workload declares), shared by its members; nil for a Pod of no declared gang.
	Gang *Gang
}

// Gang is a PodGroup of a workload: MinMember of its members run together or none does.
type Gang struct {
	Name      string
	MinMember int
}

// Cluster is a simulated cluster: its nodes, and the ResourceSlices in which NVIDIA's DRA driver
// publishes the GPUs of its DRA nodes (nodes without nvidia.com/gpu in allocatable).
type Cluster struct {
	Nodes  []*v1.Node
	Slices []*resourceapi.ResourceSlice
}

// GPUs counts the cluster's whole GPUs: the device-plugin nodes' allocatable and the DRA devices.
func (c Cluster) GPUs() int64 {
	var n int64
	for _, node := range c.Nodes {
		q := node.Status.Allocatable[gpu.ResourceName]
		n += q.Value()
	}
	for _, s := range c.Slices {
		n += int64(len(s.Spec.Devices))
	}
	return n
}

// Workload is a cluster, the pods to replay on it, and the input rows that were skipped.
type Workload struct {
	Nodes   []*v1.Node
	Pods    []Pod
	Skipped []RowError
}

// Options controls how the openb readers treat rows they cannot use.
type Options struct {
	// Lenient skips bad rows and reports them instead of failing on the first one. The header, I/O
	// errors, over-long lines and a quoted field running on past its line still fail. gpu-sim's CLI is
	// lenient by default.
	Lenient bool
}

// RowError describes one unusable input row: the error in strict mode, a skip in lenient mode.
type RowError struct {
	File   string // file name, or the source name given to a reader
	Line   int    // 1-based line number
	Column string // column name, empty when the problem is the row as a whole
	Value  string // the offending value, when there is one
	Reason string // short and stable, suitable for counting
}

func (e *RowError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	if e.Column != "" {
		fmt.Fprintf(&b, "column %s: ", e.Column)
	}
	if e.Value != "" {
		fmt.Fprintf(&b, "%q: ", e.Value)
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Key is the column and reason of the error, without location or value: what CountSkips groups by.
func (e *RowError) Key() string {
	if e.Column == "" {
		return e.Reason
	}
	return e.Column + ": " + e.Reason
}

// CountSkips counts skipped rows by Key.
func CountSkips(skips []RowError) map[string]int {
	counts := make(map[string]int)
	for i := range skips {
		counts[skips[i].Key()]++
	}
	return counts
}

// gpuMilli is a pod's GPU demand in thousandths of a GPU, read by gpu.PodDemand: the rule the
// scheduler's plugins apply (containers, sidecars, init containers, overhead, gpu-fraction).
func gpuMilli(pod *v1.Pod) (int64, error) {
	d, err := gpu.PodDemand(pod)
	return d.Milli(), err
}

// podUID is the UID of a pod this package creates; the scheduler's cache keys pods by UID.
func podUID(name string) types.UID { return types.UID(Namespace + "/" + name) }

// nodeUID is the UID of a node this package creates.
func nodeUID(name string) types.UID { return types.UID("node/" + name) }
