package trace

import (
	"bufio"
	"bytes"
	"encoding/csv"
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
// Fields may be quoted as in RFC 4180 (a comma inside, "" for a quote). A bad header, an I/O error, an
// over-long line or a quoted field that runs on past its line and goes wrong there (skipping it would
// drop the rows it swallowed) is always an error. A bad row, malformed quotes within one line included,
// is an error (a *RowError) unless opts.Lenient, which skips it and returns it among the skips.
func ReadOpenBNodes(r io.Reader, source string, opts Options) ([]*v1.Node, []RowError, error) {
	rows := newCSVRows(r, source)
	header, err := rows.header()
	if err != nil {
		return nil, nil, err
	}
	if !equalColumns(header, openBNodeColumns) {
		return nil, nil, rows.headerError(header, "an openb node list", openBNodeColumns)
	}
	seen := make(map[string]struct{})
	return readRows(rows, opts, "nodes", func(f []string) (*v1.Node, *RowError) { return parseOpenBNode(rows, f, seen) })
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
	seen := make(map[string]struct{})
	return readRows(rows, opts, "pods", func(f []string) (Pod, *RowError) { return parseOpenBPod(rows, f, len(columns), seen) })
}

// readRows parses the rows after the header with parse. A bad row is an error unless opts.Lenient,
// which skips it and returns it among the skips.
func readRows[T any](rows *csvRows, opts Options, kind string, parse func(fields []string) (T, *RowError)) ([]T, []RowError, error) {
	var (
		out   []T
		skips []RowError
	)
	for {
		fields, err := rows.next()
		if err == io.EOF {
			return out, skips, nil
		}
		var rerr *RowError
		if err == nil {
			var v T
			if v, rerr = parse(fields); rerr == nil {
				if len(out) == MaxObjects {
					return nil, nil, rows.rowError("", "", fmt.Sprintf("more than %d %s", MaxObjects, kind))
				}
				out = append(out, v)
				continue
			}
		} else if !errors.As(err, &rerr) {
			return nil, nil, err
		}
		if !opts.Lenient {
			return nil, nil, rerr
		}
		skips = append(skips, *rerr)
	}
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

// csvRows reads the rows of an openb file with encoding/csv: quoted fields may hold commas, fields are
// trimmed of spaces, blank lines and a leading UTF-8 byte order mark are ignored, CRLF is accepted.
type csvRows struct {
	csv    *csv.Reader
	in     *bufio.Reader
	lines  *lineLimitReader
	source string
	line   int // where the current row starts
}

func newCSVRows(r io.Reader, source string) *csvRows {
	lines := &lineLimitReader{r: r, line: 1}
	in := bufio.NewReaderSize(lines, 64<<10)
	c := csv.NewReader(in) // reads from in itself: in is already a large enough *bufio.Reader
	c.FieldsPerRecord = -1 // a wrong column count is a bad row, reported by the row parsers
	c.TrimLeadingSpace = true
	c.ReuseRecord = true // the parsers keep field strings, never the slice
	return &csvRows{csv: c, in: in, lines: lines, source: source}
}

// next returns the fields of the next row that is not blank, or io.EOF.
func (r *csvRows) next() ([]string, error) {
	for {
		fields, err := r.csv.Read()
		if err != nil {
			return nil, r.readError(err)
		}
		r.line, _ = r.csv.FieldPos(0)
		if len(fields) == 1 && strings.TrimSpace(fields[0]) == "" {
			continue
		}
		for i := range fields {
			fields[i] = strings.TrimSpace(fields[i])
		}
		return fields, nil
	}
}

// readError turns an error of the CSV reader into next's: io.EOF as is, a row whose quotes are
// malformed within its own line into a bad row (a *RowError), anything else into an error naming the
// line. A quoted field that runs on over later lines before going wrong is such an error, not a bad
// row: skipping it would silently drop the rows it swallowed.
func (r *csvRows) readError(err error) error {
	var (
		pe      *csv.ParseError
		tooLong *lineTooLongError
	)
	switch {
	case err == io.EOF:
		return err
	case errors.As(err, &tooLong):
		return fmt.Errorf("%s:%d: line longer than %d bytes", r.source, tooLong.line, maxLineBytes)
	case errors.As(err, &pe) && (pe.Err == csv.ErrQuote || pe.Err == csv.ErrBareQuote):
		r.line = pe.StartLine
		if pe.Line > pe.StartLine {
			return fmt.Errorf("%s:%d: the quoted field opened on this line is unclosed or malformed at line %d (a stray '\"'?); not skipped: the rows in between would be lost",
				r.source, pe.StartLine, pe.Line)
		}
		if pe.Err == csv.ErrBareQuote {
			return r.rowError("", "", `'"' in an unquoted field (quote the whole field, with "" for each '"' inside)`)
		}
		return r.rowError("", "", `malformed quoted field (want "..." then a comma or the line's end, with "" for each '"' inside)`)
	}
	return fmt.Errorf("%s:%d: %w", r.source, r.lines.line, err)
}

// lineLimitReader fails on a line longer than maxLineBytes, before encoding/csv buffers all of it.
type lineLimitReader struct {
	r      io.Reader
	line   int // the line being read, 1-based
	length int // its bytes read so far
}

type lineTooLongError struct{ line int }

func (e *lineTooLongError) Error() string { return fmt.Sprintf("line %d too long", e.line) }

func (l *lineLimitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for rest := p[:n]; ; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			l.length += len(rest)
		} else {
			l.length += i
		}
		if l.length > maxLineBytes {
			return n, &lineTooLongError{line: l.line}
		}
		if i < 0 {
			return n, err
		}
		l.line++
		l.length = 0
		rest = rest[i+1:]
	}
}

// utf8BOM is the byte order mark some spreadsheets write at the start of a UTF-8 file.
var utf8BOM = []byte("\uFEFF")

func (r *csvRows) header() ([]string, error) {
	if b, err := r.in.Peek(len(utf8BOM)); bytes.Equal(b, utf8BOM) {
		r.in.Discard(len(utf8BOM))
	} else if err != nil && err != io.EOF {
		return nil, fmt.Errorf("%s:1: %w", r.source, err)
	}
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
