package trace

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
)

// The openb column layouts, as in the trace's header lines.
var (
	openBNodeColumns     = []string{"sn", "cpu_milli", "memory_mib", "gpu", "model"}
	openBPodColumns      = []string{"name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "gpu_spec", "qos", "pod_phase", "creation_time", "deletion_time", "scheduled_time"}
	openBShortPodColumns = openBPodColumns[:5] // the multigpu files
)

// OpenBMaxPods is the pods capacity of every openb node: high enough that pod count never limits.
const OpenBMaxPods = 1000

// maxLineBytes bounds one CSV line; the trace's lines are under 100 bytes.
const maxLineBytes = 1 << 20

// maxMemoryMiB keeps memory_mib x 2^20 inside int64.
const maxMemoryMiB = math.MaxInt64 >> 20

// LoadOpenB reads an openb node list and pod list into one Workload, with the skips of both.
func LoadOpenB(nodesPath, podsPath string, opts Options) (*Workload, error) {
	nodes, nodeSkips, err := LoadOpenBNodes(nodesPath, opts)
	if err != nil {
		return nil, err
	}
	pods, podSkips, err := LoadOpenBPods(podsPath, opts)
	if err != nil {
		return nil, err
	}
	return &Workload{Nodes: nodes, Pods: pods, Skipped: append(nodeSkips, podSkips...)}, nil
}

// LoadOpenBNodes reads an openb node list (openb_node_list_*.csv). See ReadOpenBNodes.
func LoadOpenBNodes(path string, opts Options) ([]*v1.Node, []RowError, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	return ReadOpenBNodes(f, filepath.Base(path), opts)
}

// LoadOpenBPods reads an openb pod list (openb_pod_list_*.csv). See ReadOpenBPods.
func LoadOpenBPods(path string, opts Options) ([]Pod, []RowError, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	return ReadOpenBPods(f, filepath.Base(path), opts)
}

// ReadOpenBNodes reads an openb node list with columns sn,cpu_milli,memory_mib,gpu,model; source names
// it in errors. Each row becomes a Ready node named sn with cpu, memory, pods (OpenBMaxPods) and, when
// gpu > 0, gpu.ResourceName as capacity and allocatable, the kubernetes.io/hostname label, and the
// model, when not empty, as the gpu.DefaultModelLabel label.
//
// A bad header, an I/O error or an over-long line is always an error. A bad row is an error (a
// *RowError) unless opts.Lenient, which skips it and returns it among the skips.
func ReadOpenBNodes(r io.Reader, source string, opts Options) ([]*v1.Node, []RowError, error) {
	rows := newCSVRows(r, source)
	header, err := rows.header()
	if err != nil {
		return nil, nil, err
	}
	if !equalColumns(header, openBNodeColumns) {
		return nil, nil, rows.headerError(header, "an openb node list", openBNodeColumns)
	}
	var (
		nodes []*v1.Node
		skips []RowError
		seen  = make(map[string]struct{})
	)
	for {
		fields, err := rows.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		node, rerr := parseOpenBNode(rows, fields, seen)
		if rerr != nil {
			if !opts.Lenient {
				return nil, nil, rerr
			}
			skips = append(skips, *rerr)
			continue
		}
		if len(nodes) == MaxObjects {
			return nil, nil, rows.rowError("", "", fmt.Sprintf("more than %d nodes", MaxObjects))
		}
		nodes = append(nodes, node)
	}
	return nodes, skips, nil
}

func parseOpenBNode(rows *csvRows, f []string, seen map[string]struct{}) (*v1.Node, *RowError) {
	if len(f) != len(openBNodeColumns) {
		return nil, rows.rowError("", "", fmt.Sprintf("has %d columns, want %d", len(f), len(openBNodeColumns)))
	}
	name := f[0]
	if e := checkNodeName(name); e != "" {
		return nil, rows.rowError("sn", name, e)
	}
	if _, dup := seen[name]; dup {
		return nil, rows.rowError("sn", name, "duplicate name")
	}
	cpu, rerr := rows.nonNegative("cpu_milli", f[1], math.MaxInt64)
	if rerr != nil {
		return nil, rerr
	}
	mem, rerr := rows.nonNegative("memory_mib", f[2], maxMemoryMiB)
	if rerr != nil {
		return nil, rerr
	}
	gpus, rerr := rows.nonNegative("gpu", f[3], MaxGPUsPerObject)
	if rerr != nil {
		return nil, rerr
	}
	var labels map[string]string
	if model := f[4]; model != "" {
		if errs := validation.IsValidLabelValue(model); len(errs) > 0 {
			return nil, rows.rowError("model", model, "not a valid label value")
		}
		labels = map[string]string{gpu.DefaultModelLabel: model}
	}
	seen[name] = struct{}{}
	return newNode(&nodeShape{
		name:    name,
		cpu:     *resource.NewMilliQuantity(cpu, resource.DecimalSI),
		memory:  *resource.NewQuantity(mem<<20, resource.BinarySI),
		gpus:    gpus,
		maxPods: OpenBMaxPods,
		labels:  labels,
	}), nil
}

// ReadOpenBPods reads an openb pod list, with the full columns
// name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time
// or only the first five (the multigpu files, whose pods then all have CreatedAt 0 and no deletion);
// source names it in errors. Each row becomes a pod in Namespace with one container whose requests
// equal its limits: cpu_milli, memory_mib MiB (0 is kept as an explicit 0 request), and num_gpu x
// gpu.ResourceName when gpu_milli is 1000. num_gpu 1 with 0 < gpu_milli < 1000 is a share of one GPU: no
// gpu.ResourceName, the gpu.FractionAnnotation "0.<milli>" instead. A non-empty gpu_spec becomes the
// gpu.ModelAnnotation verbatim.
//
// Bad rows: wrong column count, a number that is not a non-negative integer, gpu_milli above 1000,
// gpu_milli below 1000 with num_gpu above 1, num_gpu above 0 with gpu_milli 0 (or the reverse), an
// invalid name or gpu_spec entry, a deletion before the creation, a duplicate name. Strict and lenient
// handling as in ReadOpenBNodes.
func ReadOpenBPods(r io.Reader, source string, opts Options) ([]Pod, []RowError, error) {
	rows := newCSVRows(r, source)
	header, err := rows.header()
	if err != nil {
		return nil, nil, err
	}
	var columns []string
	switch {
	case equalColumns(header, openBPodColumns):
		columns = openBPodColumns
	case equalColumns(header, openBShortPodColumns):
		columns = openBShortPodColumns
	default:
		return nil, nil, rows.headerError(header, "an openb pod list", openBPodColumns, openBShortPodColumns)
	}
	var (
		pods  []Pod
		skips []RowError
		seen  = make(map[string]struct{})
	)
	for {
		fields, err := rows.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		pod, rerr := parseOpenBPod(rows, fields, len(columns), seen)
		if rerr != nil {
			if !opts.Lenient {
				return nil, nil, rerr
			}
			skips = append(skips, *rerr)
			continue
		}
		if len(pods) == MaxObjects {
			return nil, nil, rows.rowError("", "", fmt.Sprintf("more than %d pods", MaxObjects))
		}
		pods = append(pods, pod)
	}
	return pods, skips, nil
}

func parseOpenBPod(rows *csvRows, f []string, ncol int, seen map[string]struct{}) (Pod, *RowError) {
	if len(f) != ncol {
		return Pod{}, rows.rowError("", "", fmt.Sprintf("has %d columns, want %d", len(f), ncol))
	}
	name := f[0]
	if e := checkName(name); e != "" {
		return Pod{}, rows.rowError("name", name, e)
	}
	if _, dup := seen[name]; dup {
		return Pod{}, rows.rowError("name", name, "duplicate name")
	}
	cpu, rerr := rows.nonNegative("cpu_milli", f[1], math.MaxInt64)
	if rerr != nil {
		return Pod{}, rerr
	}
	mem, rerr := rows.nonNegative("memory_mib", f[2], maxMemoryMiB)
	if rerr != nil {
		return Pod{}, rerr
	}
	numGPU, rerr := rows.nonNegative("num_gpu", f[3], MaxGPUsPerObject)
	if rerr != nil {
		return Pod{}, rerr
	}
	rowMilli, rerr := rows.nonNegative("gpu_milli", f[4], math.MaxInt64)
	if rerr != nil {
		return Pod{}, rerr
	}
	shape := podShape{
		name:   name,
		cpu:    resource.NewMilliQuantity(cpu, resource.DecimalSI),
		memory: resource.NewQuantity(mem<<20, resource.BinarySI),
	}
	p := Pod{CreatedAt: 0, DeletedAt: NoTime, ScheduledAt: NoTime}
	switch {
	case rowMilli > gpu.MilliPerGPU:
		return Pod{}, rows.rowError("gpu_milli", f[4], "above 1000")
	case numGPU == 0 && rowMilli != 0:
		return Pod{}, rows.rowError("gpu_milli", f[4], "not 0 with num_gpu 0")
	case numGPU > 0 && rowMilli == 0:
		return Pod{}, rows.rowError("gpu_milli", f[4], "0 with num_gpu above 0")
	case numGPU > 1 && rowMilli < gpu.MilliPerGPU:
		return Pod{}, rows.rowError("gpu_milli", f[4], "below 1000 with num_gpu above 1")
	case numGPU == 1 && rowMilli < gpu.MilliPerGPU:
		shape.fracMilli = rowMilli
	default:
		shape.gpus = numGPU
	}
	if ncol == len(openBPodColumns) {
		if spec := f[5]; spec != "" {
			for _, model := range strings.Split(spec, "|") {
				if model == "" || len(validation.IsValidLabelValue(model)) > 0 {
					return Pod{}, rows.rowError("gpu_spec", spec, "want GPU models (label values) separated by '|'")
				}
			}
			shape.annotations = map[string]string{gpu.ModelAnnotation: spec}
		}
		p.QoS, p.Phase = f[6], f[7]
		if p.CreatedAt, rerr = rows.nonNegative("creation_time", f[8], math.MaxInt64); rerr != nil {
			return Pod{}, rerr
		}
		if f[9] != "" {
			if p.DeletedAt, rerr = rows.nonNegative("deletion_time", f[9], math.MaxInt64); rerr != nil {
				return Pod{}, rerr
			}
			if p.DeletedAt < p.CreatedAt {
				return Pod{}, rows.rowError("deletion_time", f[9], "before creation_time")
			}
		}
		if f[10] != "" {
			if p.ScheduledAt, rerr = rows.nonNegative("scheduled_time", f[10], math.MaxInt64); rerr != nil {
				return Pod{}, rerr
			}
		}
	}
	seen[name] = struct{}{}
	p.Pod = newPod(&shape)
	milli, err := gpuMilli(p.Pod)
	if err != nil {
		return Pod{}, rows.rowError("num_gpu", f[3], err.Error())
	}
	p.GPUMilli = milli
	return p, nil
}

// checkName returns why name cannot name an object, or "".
func checkName(name string) string {
	if name == "" {
		return "empty name"
	}
	if len(validation.IsDNS1123Subdomain(name)) > 0 {
		return "not a valid name (lower case alphanumerics, '-' and '.', at most 253 characters)"
	}
	return ""
}

// checkNodeName is checkName, plus the limits of the kubernetes.io/hostname label value.
func checkNodeName(name string) string {
	if e := checkName(name); e != "" {
		return e
	}
	if len(validation.IsValidLabelValue(name)) > 0 {
		return "not a valid node name (also a hostname label value: at most 63 characters)"
	}
	return ""
}

// csvRows reads the simple comma-separated lines of the openb trace: no quoting, fields trimmed of
// spaces, blank lines and a UTF-8 byte order mark ignored, CRLF accepted.
type csvRows struct {
	sc     *bufio.Scanner
	source string
	line   int
}

func newCSVRows(r io.Reader, source string) *csvRows {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	return &csvRows{sc: sc, source: source}
}

// next returns the fields of the next non-blank line, or io.EOF.
func (r *csvRows) next() ([]string, error) {
	for r.sc.Scan() {
		r.line++
		b := r.sc.Bytes()
		if r.line == 1 {
			b = bytes.TrimPrefix(b, []byte("\uFEFF"))
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			continue
		}
		fields := strings.Split(s, ",")
		for i := range fields {
			fields[i] = strings.TrimSpace(fields[i])
		}
		return fields, nil
	}
	if err := r.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s:%d: line longer than %d bytes", r.source, r.line+1, maxLineBytes)
		}
		return nil, fmt.Errorf("%s:%d: %w", r.source, r.line+1, err)
	}
	return nil, io.EOF
}

func (r *csvRows) header() ([]string, error) {
	h, err := r.next()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: empty file, want a header line", r.source)
	}
	return h, err
}

func (r *csvRows) headerError(got []string, want string, layouts ...[]string) error {
	var hint string
	switch {
	case equalColumns(got, openBNodeColumns):
		hint = " (this is an openb node list)"
	case equalColumns(got, openBPodColumns), equalColumns(got, openBShortPodColumns):
		hint = " (this is an openb pod list)"
	}
	wants := make([]string, len(layouts))
	for i, l := range layouts {
		wants[i] = strconv.Quote(strings.Join(l, ","))
	}
	return fmt.Errorf("%s:%d: header %q%s: %s needs the header %s", r.source, r.line,
		truncate(strings.Join(got, ","), 200), hint, want, strings.Join(wants, " or "))
}

func (r *csvRows) rowError(column, value, reason string) *RowError {
	return &RowError{File: r.source, Line: r.line, Column: column, Value: truncate(value, 100), Reason: reason}
}

// nonNegative parses an integer column in [0, limit].
func (r *csvRows) nonNegative(column, s string, limit int64) (int64, *RowError) {
	n, err := strconv.ParseInt(s, 10, 64)
	switch {
	case s == "":
		return 0, r.rowError(column, s, "empty, want a non-negative integer")
	case err != nil && errors.Is(err, strconv.ErrRange) && strings.HasPrefix(s, "-"):
		return 0, r.rowError(column, s, "negative")
	case err != nil && errors.Is(err, strconv.ErrRange):
		return 0, r.rowError(column, s, "too large")
	case err != nil:
		return 0, r.rowError(column, s, "not an integer")
	case n < 0:
		return 0, r.rowError(column, s, "negative")
	case n > limit:
		return 0, r.rowError(column, s, fmt.Sprintf("too large (at most %d)", limit))
	}
	return n, nil
}

func equalColumns(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !strings.EqualFold(got[i], want[i]) {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
