package trace

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
)

// findOpenBDir finds the openb trace: $OPENB_DIR, else shared/data/openb beside this repository or
// any of its parents (/work/shared next to /work/main, or <repo>/../shared in CI); "" when absent.
func findOpenBDir() string {
	if d := os.Getenv("OPENB_DIR"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		candidate := filepath.Join(dir, "shared", "data", "openb")
		if _, err := os.Stat(filepath.Join(candidate, "openb_node_list_gpu_node.csv")); err == nil {
			return candidate
		}
		if filepath.Dir(dir) == dir {
			return ""
		}
	}
}

// openBDir is findOpenBDir, skipping the test without the trace.
func openBDir(tb testing.TB) string {
	tb.Helper()
	dir := findOpenBDir()
	if dir == "" {
		tb.Skip("openb trace not found: set OPENB_DIR or place it at <repo>/../shared/data/openb")
	}
	return dir
}

func TestOpenBRealNodes(t *testing.T) {
	dir := openBDir(t)
	for _, tt := range []struct {
		file                       string
		nodes, gpuNodes, gpus, g2s int
	}{
		{"openb_node_list_gpu_node.csv", 1213, 1213, 6212, 549},
		{"openb_node_list_all_node.csv", 1523, 1213, 6212, 549},
	} {
		t.Run(tt.file, func(t *testing.T) {
			nodes, skips, err := LoadOpenBNodes(filepath.Join(dir, tt.file), Options{})
			if err != nil || len(skips) != 0 {
				t.Fatalf("err %v, skips %v", err, skips)
			}
			var gpuNodes, gpus, g2s int
			for _, n := range nodes {
				if q, ok := n.Status.Allocatable[gpu.ResourceName]; ok {
					gpuNodes++
					gpus += int(q.Value())
				}
				if n.Labels[gpu.DefaultModelLabel] == "G2" {
					g2s++
					if n.Status.Allocatable.Cpu().Value() != 96 || n.Status.Allocatable.Memory().Value() != 384<<30 {
						t.Errorf("G2 node %s: %v", n.Name, n.Status.Allocatable)
					}
				}
			}
			if len(nodes) != tt.nodes || gpuNodes != tt.gpuNodes || gpus != tt.gpus || g2s != tt.g2s {
				t.Errorf("%d nodes, %d GPU nodes, %d GPUs, %d G2; want %d, %d, %d, %d",
					len(nodes), gpuNodes, gpus, g2s, tt.nodes, tt.gpuNodes, tt.gpus, tt.g2s)
			}
		})
	}
}

func TestOpenBRealPods(t *testing.T) {
	dir := openBDir(t)
	// The README's table.
	type counts struct{ pods, cpuOnly, whole1, fractional, g2, g4, g8, withSpec int }
	for _, tt := range []struct {
		file string
		want counts
	}{
		{"openb_pod_list_default.csv", counts{8152, 1088, 3911, 3078, 16, 15, 44, 0}},
		{"openb_pod_list_cpu250.csv", counts{9420, 2356, 3911, 3078, 16, 15, 44, 0}},
		{"openb_pod_list_gpushare100.csv", counts{8152, 1088, 0, 7064, 0, 0, 0, 0}},
		{"openb_pod_list_gpuspec33.csv", counts{8152, 1088, 3911, 3078, 16, 15, 44, 2388}},
		{"openb_pod_list_multigpu50.csv", counts{9061, 1088, 3911, 3078, 222, 206, 556, 0}},
	} {
		t.Run(tt.file, func(t *testing.T) {
			pods, skips, err := LoadOpenBPods(filepath.Join(dir, tt.file), Options{})
			if err != nil || len(skips) != 0 {
				t.Fatalf("err %v, skips %v", err, skips)
			}
			got := counts{pods: len(pods)}
			for _, p := range pods {
				whole := p.Pod.Spec.Containers[0].Resources.Requests[gpu.ResourceName]
				_, frac := p.Pod.Annotations[gpu.FractionAnnotation]
				switch n := whole.Value(); {
				case frac:
					got.fractional++
				case n == 0:
					got.cpuOnly++
				case n == 1:
					got.whole1++
				case n == 2:
					got.g2++
				case n == 4:
					got.g4++
				case n == 8:
					got.g8++
				default:
					t.Errorf("%s: %d GPUs", p.Pod.Name, n)
				}
				if _, ok := p.Pod.Annotations[gpu.ModelAnnotation]; ok {
					got.withSpec++
				}
				if m, err := gpuMilli(p.Pod); err != nil || m != p.GPUMilli {
					t.Fatalf("%s: gpuMilli %d, %v; GPUMilli %d", p.Pod.Name, m, err, p.GPUMilli)
				}
			}
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestOpenBRealZeroMemoryPod(t *testing.T) {
	pods, _, err := LoadOpenBPods(filepath.Join(openBDir(t), "openb_pod_list_default.csv"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var found int
	for _, p := range pods {
		mem, ok := p.Pod.Spec.Containers[0].Resources.Requests[v1.ResourceMemory]
		if !ok {
			t.Fatalf("%s has no memory request", p.Pod.Name)
		}
		if mem.IsZero() {
			found++
			if p.Pod.Name != "openb-pod-1523" || p.GPUMilli != 1000 {
				t.Errorf("zero-memory pod %s, %d milli", p.Pod.Name, p.GPUMilli)
			}
		}
	}
	if found != 1 {
		t.Errorf("%d pods with memory 0, want 1", found)
	}
}

// BenchmarkLoadOpenBDefault loads the published experiment's inputs: GPU nodes and the default pods.
func BenchmarkLoadOpenBDefault(b *testing.B) {
	dir := openBDir(b)
	b.ReportAllocs()
	for b.Loop() {
		w, err := LoadOpenB(filepath.Join(dir, "openb_node_list_gpu_node.csv"), filepath.Join(dir, "openb_pod_list_default.csv"), Options{Lenient: true})
		if err != nil || len(w.Pods) != 8152 {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadOpenBPodsDefault reads the default pod list from memory: the CSV reader and the Pod
// objects, without the disk.
func BenchmarkReadOpenBPodsDefault(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(openBDir(b), "openb_pod_list_default.csv"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		pods, _, err := ReadOpenBPods(bytes.NewReader(data), "openb_pod_list_default.csv", Options{})
		if err != nil || len(pods) != 8152 {
			b.Fatal(err)
		}
	}
}
