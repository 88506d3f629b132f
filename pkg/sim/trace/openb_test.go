package trace

import (
	"errors"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
)

const (
	nodeHeader      = "sn,cpu_milli,memory_mib,gpu,model\n"
	podHeader       = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n"
	shortPodHeader  = "name,cpu_milli,memory_mib,num_gpu,gpu_milli\n"
	goodPodRowTimes = ",,LS,Running,10,20,11"
)

func TestOpenBNodeMapping(t *testing.T) {
	nodes, skips, err := ReadOpenBNodes(strings.NewReader(nodeHeader+
		"openb-node-0000,96000,393216,8,G2\n"+
		"openb-node-0001,32000,262144,0,\n"), "nodes.csv", Options{})
	if err != nil || len(skips) != 0 || len(nodes) != 2 {
		t.Fatalf("got %d nodes, skips %v, err %v", len(nodes), skips, err)
	}
	n := nodes[0]
	if n.Name != "openb-node-0000" || n.UID == "" || n.Labels[v1.LabelHostname] != "openb-node-0000" || n.Labels[gpu.DefaultModelLabel] != "G2" {
		t.Errorf("meta: %+v", n.ObjectMeta)
	}
	for _, list := range []v1.ResourceList{n.Status.Capacity, n.Status.Allocatable} {
		checkQuantity(t, list, v1.ResourceCPU, "96")
		checkQuantity(t, list, v1.ResourceMemory, "384Gi")
		checkQuantity(t, list, gpu.ResourceName, "8")
		checkQuantity(t, list, v1.ResourcePods, "1000")
		if list.Memory().Value() != 393216<<20 {
			t.Errorf("memory bytes %d", list.Memory().Value())
		}
	}
	if len(n.Status.Conditions) != 1 || n.Status.Conditions[0].Type != v1.NodeReady || n.Status.Conditions[0].Status != v1.ConditionTrue {
		t.Errorf("conditions %+v", n.Status.Conditions)
	}
	cpuOnly := nodes[1]
	if _, ok := cpuOnly.Status.Capacity[gpu.ResourceName]; ok {
		t.Errorf("CPU-only node has %s", gpu.ResourceName)
	}
	if _, ok := cpuOnly.Labels[gpu.DefaultModelLabel]; ok {
		t.Errorf("CPU-only node has a model label")
	}
	// The two lists must not share storage.
	n.Status.Allocatable[v1.ResourceCPU] = resource.MustParse("1")
	if n.Status.Capacity.Cpu().String() != "96" {
		t.Errorf("capacity and allocatable share a map")
	}
}

func checkQuantity(t *testing.T, list v1.ResourceList, name v1.ResourceName, want string) {
	t.Helper()
	q, ok := list[name]
	if !ok {
		t.Errorf("%s missing", name)
		return
	}
	if q.Cmp(resource.MustParse(want)) != 0 {
		t.Errorf("%s = %s, want %s", name, q.String(), want)
	}
}

func TestOpenBPodMapping(t *testing.T) {
	tests := []struct {
		name, row       string
		short           bool
		wantGPUs        string // nvidia.com/gpu request, "" for none
		wantFraction    string // gpu-fraction annotation, "" for none
		wantModels      string // gpu-model annotation, "" for none
		wantMilli       int64
		wantCPU, wantMi string
		wantCreated     int64
		wantDeleted     int64
	}{
		{"cpu only", "p,8000,30517,0,0" + goodPodRowTimes, false, "", "", "", 0, "8", "30517Mi", 10, 20},
		{"one whole GPU", "p,12000,16384,1,1000" + goodPodRowTimes, false, "1", "", "", 1000, "12", "16Gi", 10, 20},
		{"fraction 460", "p,6000,12288,1,460" + goodPodRowTimes, false, "", "0.46", "", 460, "6", "12Gi", 10, 20},
		{"fraction 500", "p,6000,12288,1,500" + goodPodRowTimes, false, "", "0.5", "", 500, "6", "12Gi", 10, 20},
		{"fraction 5", "p,6000,12288,1,5" + goodPodRowTimes, false, "", "0.005", "", 5, "6", "12Gi", 10, 20},
		{"fraction 999", "p,6000,12288,1,999" + goodPodRowTimes, false, "", "0.999", "", 999, "6", "12Gi", 10, 20},
		{"fraction 10", "p,6000,12288,1,10" + goodPodRowTimes, false, "", "0.01", "", 10, "6", "12Gi", 10, 20},
		{"8 GPUs", "p,64000,262144,8,1000" + goodPodRowTimes, false, "8", "", "", 8000, "64", "256Gi", 10, 20},
		{"memory 0", "p,14000,0,1,1000,,Burstable,Succeeded,10611842,10615828,10611842", false, "1", "", "", 1000, "14", "0", 10611842, 10615828},
		{"gpu_spec", "p,6000,12288,1,460,V100M16|V100M32,LS,Running,10,20,11", false, "", "0.46", "V100M16|V100M32", 460, "6", "12Gi", 10, 20},
		{"gpu_spec duplicate kept verbatim", "p,6000,12288,2,1000,V100M16|V100M32|V100M32,LS,Running,10,20,11", false, "2", "", "V100M16|V100M32|V100M32", 2000, "6", "12Gi", 10, 20},
		{"no deletion", "p,6000,12288,0,0,,LS,Running,10,,", false, "", "", "", 0, "6", "12Gi", 10, NoTime},
		{"short layout", "p,16200,66560,2,1000", true, "2", "", "", 2000, "16200m", "65Gi", 0, NoTime},
		{"spaces and CR", " p , 6000 ,12288,1,460\r", true, "", "0.46", "", 460, "6", "12Gi", 0, NoTime},
		{"quoted fields", `"p","6000", "12288",1,460,"V100M16|V100M32",LS,Running,10,20,11`, false, "", "0.46", "V100M16|V100M32", 460, "6", "12Gi", 10, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := podHeader
			if tt.short {
				header = shortPodHeader
			}
			pods, skips, err := ReadOpenBPods(strings.NewReader(header+tt.row+"\n"), "pods.csv", Options{})
			if err != nil || len(skips) != 0 || len(pods) != 1 {
				t.Fatalf("got %d pods, skips %v, err %v", len(pods), skips, err)
			}
			p := pods[0]
			pod := p.Pod
			if pod.Name != "p" || pod.Namespace != "default" || pod.UID == "" || len(pod.Spec.Containers) != 1 {
				t.Fatalf("pod %+v", pod)
			}
			res := pod.Spec.Containers[0].Resources
			if !equalLists(res.Requests, res.Limits) {
				t.Errorf("requests %v != limits %v", res.Requests, res.Limits)
			}
			checkQuantity(t, res.Requests, v1.ResourceCPU, tt.wantCPU)
			checkQuantity(t, res.Requests, v1.ResourceMemory, tt.wantMi)
			if q, ok := res.Requests[gpu.ResourceName]; ok != (tt.wantGPUs != "") || (ok && q.String() != tt.wantGPUs) {
				t.Errorf("gpu request %v (present %v), want %q", q.String(), ok, tt.wantGPUs)
			}
			if got := pod.Annotations[gpu.FractionAnnotation]; got != tt.wantFraction {
				t.Errorf("fraction %q, want %q", got, tt.wantFraction)
			}
			if got := pod.Annotations[gpu.ModelAnnotation]; got != tt.wantModels {
				t.Errorf("models %q, want %q", got, tt.wantModels)
			}
			if p.GPUMilli != tt.wantMilli {
				t.Errorf("GPUMilli %d, want %d", p.GPUMilli, tt.wantMilli)
			}
			if m, err := gpuMilli(pod); err != nil || m != tt.wantMilli {
				t.Errorf("gpuMilli = %d, %v; want %d", m, err, tt.wantMilli)
			}
			if p.CreatedAt != tt.wantCreated || p.DeletedAt != tt.wantDeleted {
				t.Errorf("times %d..%d, want %d..%d", p.CreatedAt, p.DeletedAt, tt.wantCreated, tt.wantDeleted)
			}
		})
	}
}

func equalLists(a, b v1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, q := range a {
		if r, ok := b[k]; !ok || q.Cmp(r) != 0 {
			return false
		}
	}
	return true
}

func TestOpenBPodBadRows(t *testing.T) {
	tests := []struct {
		name, row, column, reason string
	}{
		{"too few columns", "p,1,1,0,0,,LS,Running,10,20", "", "has 10 columns, want 11"},
		{"too many columns", "p,1,1,0,0,,LS,Running,10,20,11,x", "", "has 12 columns, want 11"},
		{"non-integer cpu", "p,1.5,1,0,0" + goodPodRowTimes, "cpu_milli", "not an integer"},
		{"empty memory", "p,1,,0,0" + goodPodRowTimes, "memory_mib", "empty, want a non-negative integer"},
		{"negative memory", "p,1,-5,0,0" + goodPodRowTimes, "memory_mib", "negative"},
		{"huge negative", "p,1,-99999999999999999999,0,0" + goodPodRowTimes, "memory_mib", "negative"},
		{"memory overflow", "p,1,9223372036854775807,0,0" + goodPodRowTimes, "memory_mib", "too large (at most 8796093022207)"},
		{"int64 overflow", "p,99999999999999999999,1,0,0" + goodPodRowTimes, "cpu_milli", "too large"},
		{"negative num_gpu", "p,1,1,-1,1000" + goodPodRowTimes, "num_gpu", "negative"},
		{"num_gpu huge", "p,1,1,100000,1000" + goodPodRowTimes, "num_gpu", "too large (at most 65536)"},
		{"gpu_milli above 1000", "p,1,1,1,1001" + goodPodRowTimes, "gpu_milli", "above 1000"},
		{"fraction with 2 GPUs", "p,1,1,2,500" + goodPodRowTimes, "gpu_milli", "below 1000 with num_gpu above 1"},
		{"GPUs without milli", "p,1,1,1,0" + goodPodRowTimes, "gpu_milli", "0 with num_gpu above 0"},
		{"milli without GPUs", "p,1,1,0,500" + goodPodRowTimes, "gpu_milli", "not 0 with num_gpu 0"},
		{"bad name", "P_1,1,1,0,0" + goodPodRowTimes, "name", "not a valid name (lower case alphanumerics, '-' and '.', at most 253 characters)"},
		{"empty name", ",1,1,0,0" + goodPodRowTimes, "name", "empty name"},
		{"bad gpu_spec", "p,1,1,1,1000,V100||T4,LS,Running,10,20,11", "gpu_spec", "want GPU models (label values) separated by '|'"},
		{"quoted bad gpu_spec", `p,1,1,1,1000,"V100,T4",LS,Running,10,20,11`, "gpu_spec", "want GPU models (label values) separated by '|'"},
		{"quote inside an unquoted field", `p,1,1,0,0,,L"S,Running,10,20,11`, "", `'"' in an unquoted field (quote the whole field, with "" for each '"' inside)`},
		{"text after a closing quote", `p,1,1,0,0,,"LS"x,Running,10,20,11`, "", `malformed quoted field (want "..." then a comma or the line's end, with "" for each '"' inside)`},
		{"missing creation", "p,1,1,0,0,,LS,Running,,20,11", "creation_time", "empty, want a non-negative integer"},
		{"deletion before creation", "p,1,1,0,0,,LS,Running,30,20,11", "deletion_time", "before creation_time"},
		{"bad scheduled", "p,1,1,0,0,,LS,Running,10,20,x", "scheduled_time", "not an integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input := podHeader + "ok-0,1,1,0,0" + goodPodRowTimes + "\n" + tt.row + "\nok-1,1,1,0,0" + goodPodRowTimes + "\n"

			// Strict: an error naming file, line and column.
			pods, _, err := ReadOpenBPods(strings.NewReader(input), "x.csv", Options{})
			var rerr *RowError
			if !errors.As(err, &rerr) || pods != nil {
				t.Fatalf("strict: got %d pods, err %v; want a *RowError", len(pods), err)
			}
			if rerr.File != "x.csv" || rerr.Line != 3 || rerr.Column != tt.column || rerr.Reason != tt.reason {
				t.Errorf("strict: %+v, want line 3 column %q reason %q", rerr, tt.column, tt.reason)
			}
			if !strings.HasPrefix(err.Error(), "x.csv:3: ") || (tt.column != "" && !strings.Contains(err.Error(), "column "+tt.column)) {
				t.Errorf("strict: message %q", err)
			}

			// Lenient: the row is skipped and reported, the others load.
			pods, skips, err := ReadOpenBPods(strings.NewReader(input), "x.csv", Options{Lenient: true})
			if err != nil || len(pods) != 2 || len(skips) != 1 {
				t.Fatalf("lenient: got %d pods, skips %v, err %v", len(pods), skips, err)
			}
			if skips[0] != *rerr {
				t.Errorf("lenient skip %+v, strict error %+v", skips[0], *rerr)
			}
		})
	}
}

func TestOpenBQuotedComma(t *testing.T) {
	input := podHeader + `p,1,1,0,0,,"LS, pinned","Running ""hot""",10,20,11` + "\n" + `q,1,1,0,0,,"two` + "\n" + `lines",Running,10,20,11` + "\nr,1,1,0,0" + goodPodRowTimes + "\n"
	pods, skips, err := ReadOpenBPods(strings.NewReader(input), "x.csv", Options{})
	if err != nil || len(skips) != 0 || len(pods) != 3 {
		t.Fatalf("got %d pods, skips %v, err %v", len(pods), skips, err)
	}
	if p := pods[0]; p.QoS != "LS, pinned" || p.Phase != `Running "hot"` || p.CreatedAt != 10 || p.DeletedAt != 20 {
		t.Errorf("qos %q, phase %q, times %d..%d", p.QoS, p.Phase, p.CreatedAt, p.DeletedAt)
	}
	if pods[1].QoS != "two\nlines" {
		t.Errorf("a quoted field over two lines: qos %q", pods[1].QoS)
	}

	// A bad row after the two-line one is named by its own line.
	_, _, err = ReadOpenBPods(strings.NewReader(input+"s,-1,1,0,0"+goodPodRowTimes+"\n"), "x.csv", Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "x.csv:6: column cpu_milli") {
		t.Errorf("row after a two-line row: %v", err)
	}
}

// A quote opened and never properly closed swallows the lines after it: the read fails, strict or
// lenient, naming where the field opened, rather than skip one "row" and lose the rows inside it.
func TestOpenBUnclosedQuote(t *testing.T) {
	for _, tt := range []struct{ name, rows, want string }{
		{"to the end", `p,1,1,0,0,,"LS,Running,10,20,11` + "\nq,1,1,0,0" + goodPodRowTimes + "\nr,1,1,0,0" + goodPodRowTimes + "\n", "x.csv:3: the quoted field opened on this line is unclosed or malformed at line 5"},
		{"to the next quote", `p,1,1,0,0,,"LS,Running,10,20,11` + "\nq,1,1,0,0,,\"LS\",Running,10,20,11\nr,1,1,0,0" + goodPodRowTimes + "\n", "x.csv:3: the quoted field opened on this line is unclosed or malformed at line 4"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			input := podHeader + "ok,1,1,0,0" + goodPodRowTimes + "\n" + tt.rows
			for _, lenient := range []bool{false, true} {
				pods, skips, err := ReadOpenBPods(strings.NewReader(input), "x.csv", Options{Lenient: lenient})
				var rerr *RowError
				if err == nil || errors.As(err, &rerr) || !strings.HasPrefix(err.Error(), tt.want) || pods != nil || skips != nil {
					t.Errorf("lenient=%v: %d pods, skips %v, err %v; want an error starting %q", lenient, len(pods), skips, err, tt.want)
				}
			}
		})
	}
	// On the last line, nothing follows to lose: a bad row like any other.
	input := podHeader + "ok,1,1,0,0" + goodPodRowTimes + "\n" + `p,1,1,0,0,,"LS,Running,10,20,11` + "\n"
	pods, skips, err := ReadOpenBPods(strings.NewReader(input), "x.csv", Options{Lenient: true})
	if err != nil || len(pods) != 1 || len(skips) != 1 || skips[0].Line != 3 {
		t.Errorf("last line: %d pods, skips %v, err %v", len(pods), skips, err)
	}
}

func TestOpenBDuplicates(t *testing.T) {
	input := podHeader + "a,1,1,0,0" + goodPodRowTimes + "\nb,1,1,0,0" + goodPodRowTimes + "\na,2,2,0,0" + goodPodRowTimes + "\n"
	_, _, err := ReadOpenBPods(strings.NewReader(input), "x.csv", Options{})
	if err == nil || err.Error() != `x.csv:4: column name: "a": duplicate name` {
		t.Errorf("strict: %v", err)
	}
	pods, skips, err := ReadOpenBPods(strings.NewReader(input), "x.csv", Options{Lenient: true})
	if err != nil || len(pods) != 2 || len(skips) != 1 || pods[0].Pod.Spec.Containers[0].Resources.Requests.Cpu().MilliValue() != 1 {
		t.Errorf("lenient: %d pods, skips %v, err %v", len(pods), skips, err)
	}
	nodes := nodeHeader + "n,1,1,0,\nn,1,1,0,\n"
	if _, _, err := ReadOpenBNodes(strings.NewReader(nodes), "n.csv", Options{}); err == nil || !strings.Contains(err.Error(), "n.csv:3: column sn") {
		t.Errorf("nodes strict: %v", err)
	}
}

func TestOpenBNodeBadRows(t *testing.T) {
	tests := []struct {
		name, row, column, reason string
	}{
		{"columns", "n,1,1,0", "", "has 4 columns, want 5"},
		{"negative cpu", "n,-1,1,0,", "cpu_milli", "negative"},
		{"float memory", "n,1,1.5,0,", "memory_mib", "not an integer"},
		{"gpu text", "n,1,1,eight,", "gpu", "not an integer"},
		{"bad model", "n,1,1,8,A 100", "model", "not a valid label value"},
		{"long name", "n" + strings.Repeat("x", 63) + ",1,1,0,", "sn", "not a valid node name (also a hostname label value: at most 63 characters)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input := nodeHeader + "ok,1,1,0,\n" + tt.row + "\n"
			_, _, err := ReadOpenBNodes(strings.NewReader(input), "n.csv", Options{})
			var rerr *RowError
			if !errors.As(err, &rerr) || rerr.Line != 3 || rerr.Column != tt.column || rerr.Reason != tt.reason {
				t.Fatalf("strict: %v, want line 3 column %q reason %q", err, tt.column, tt.reason)
			}
			nodes, skips, err := ReadOpenBNodes(strings.NewReader(input), "n.csv", Options{Lenient: true})
			if err != nil || len(nodes) != 1 || len(skips) != 1 || skips[0] != *rerr {
				t.Fatalf("lenient: %d nodes, skips %v, err %v", len(nodes), skips, err)
			}
		})
	}
}

func TestOpenBHeaders(t *testing.T) {
	tests := []struct {
		name, input string
		pods        bool
		want        string
	}{
		{"node file as pods", nodeHeader + "n,1,1,0,\n", true, "this is an openb node list"},
		{"pod file as nodes", podHeader, false, "this is an openb pod list"},
		{"short pod file as nodes", shortPodHeader, false, "this is an openb pod list"},
		{"empty", "", true, "empty file"},
		{"blank", "\n\n  \n", false, "empty file"},
		{"other CSV", "a,b,c\n", true, `header "a,b,c": an openb pod list needs the header`},
		{"long line", strings.Repeat("x", maxLineBytes+1), true, "f.csv:1: line longer than"},
		{"long row", podHeader + "\n" + strings.Repeat("x", maxLineBytes+1), true, "f.csv:3: line longer than"},
		{"long quoted field", podHeader + `p,1,1,0,0,,"` + strings.Repeat("x", maxLineBytes+1) + `",Running,10,20,11`, true, "f.csv:2: line longer than"},
		{"quoted header", `"sn,cpu_milli",memory_mib,gpu,model` + "\n", false, `header "sn,cpu_milli,memory_mib,gpu,model"`},
		{"malformed header", `sn,cpu"_milli,memory_mib,gpu,model` + "\n", false, `f.csv:1: '"' in an unquoted field`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			for _, lenient := range []bool{false, true} {
				if tt.pods {
					_, _, err = ReadOpenBPods(strings.NewReader(tt.input), "f.csv", Options{Lenient: lenient})
				} else {
					_, _, err = ReadOpenBNodes(strings.NewReader(tt.input), "f.csv", Options{Lenient: lenient})
				}
				if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "f.csv") {
					t.Errorf("lenient=%v: %v, want an error containing %q", lenient, err, tt.want)
				}
			}
		})
	}
	// A byte order mark (before a quote too), upper case and trailing blank lines are fine.
	for _, input := range []string{"\uFEFFSN,CPU_MILLI,memory_mib,gpu,model\r\nn,1,1,0,\r\n\n\n", "\uFEFF\"sn\",cpu_milli,memory_mib,gpu,model\nn,1,1,0,\n"} {
		nodes, _, err := ReadOpenBNodes(strings.NewReader(input), "f.csv", Options{})
		if err != nil || len(nodes) != 1 {
			t.Errorf("BOM header %q: %d nodes, %v", input, len(nodes), err)
		}
	}
}

func TestCountSkips(t *testing.T) {
	input := podHeader + "a,-1,1,0,0" + goodPodRowTimes + "\nb,-1,1,0,0" + goodPodRowTimes + "\nc,1\n"
	_, skips, err := ReadOpenBPods(strings.NewReader(input), "x.csv", Options{Lenient: true})
	if err != nil {
		t.Fatal(err)
	}
	got := CountSkips(skips)
	if len(got) != 2 || got["cpu_milli: negative"] != 2 || got["has 2 columns, want 11"] != 1 {
		t.Errorf("CountSkips = %v", got)
	}
}
