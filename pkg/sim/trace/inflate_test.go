package trace

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
)

func milliPods(millis ...int64) []Pod {
	pods := make([]Pod, len(millis))
	for i, m := range millis {
		s := podShape{name: "p" + string(rune('a'+i))}
		switch {
		case m >= 1000:
			s.gpus = m / 1000
		case m > 0:
			s.fracMilli = m
		}
		pods[i] = Pod{Pod: newPod(&s), GPUMilli: m, CreatedAt: 5, DeletedAt: 9, ScheduledAt: 6}
	}
	return pods
}

func totalMilli(pods []Pod) (t int64) {
	for _, p := range pods {
		t += p.GPUMilli
	}
	return t
}

func TestInflateStopsAtFirstOvershoot(t *testing.T) {
	pods := milliPods(600, 500, 0)
	script := []int{2, 1, 2, 0, 1, 1}
	next := func(n int) int {
		i := script[0]
		script = script[1:]
		return i
	}
	// C (0), B (500), C (0), then A would make 1100 > 1000: stop, though a later B would fit.
	if got := sample(pods, 1000, next); !reflect.DeepEqual(got, []int{2, 1, 2}) {
		t.Errorf("sample = %v, want [2 1 2]", got)
	}
}

func TestInflateTarget(t *testing.T) {
	tests := []struct {
		name      string
		millis    []int64
		totalGPUs int64
		ratio     float64
		want      int // pods
	}{
		{"whole GPUs fill exactly", []int64{1000}, 10, 1.3, 13},
		{"equal to the target is kept", []int64{250}, 1, 1, 4},
		{"overshoot stops", []int64{300}, 1, 1, 3},
		// 0.29 x 100 x 1000 is 28999.999999999996 in float64.
		{"float rounding", []int64{100}, 100, 0.29, 290},
		{"no GPU pods", []int64{0, 0}, 10, 1.3, 0},
		{"zero ratio", []int64{1000}, 10, 0, 0},
		{"no GPUs", []int64{1000}, 0, 1.3, 0},
		{"pod above target", []int64{8000}, 4, 1.3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Inflate(milliPods(tt.millis...), tt.totalGPUs, tt.ratio, 42)
			if len(got) != tt.want {
				t.Errorf("%d pods, want %d", len(got), tt.want)
			}
		})
	}
	if got := Inflate(nil, 10, 1, 1); got != nil {
		t.Errorf("Inflate(nil) = %v", got)
	}
}

func TestInflateDeterministicAndFresh(t *testing.T) {
	in := milliPods(1000, 460, 0, 2000, 8000, 5)
	before := make([]Pod, len(in))
	for i, p := range in {
		before[i] = Pod{Pod: p.Pod.DeepCopy(), GPUMilli: p.GPUMilli, CreatedAt: p.CreatedAt, DeletedAt: p.DeletedAt, ScheduledAt: p.ScheduledAt}
	}
	a := Inflate(in, 100, 1.3, 7)
	b := Inflate(in, 100, 1.3, 7)
	c := Inflate(in, 100, 1.3, 8)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different results")
	}
	if reflect.DeepEqual(names(a), names(c)) {
		t.Error("seeds 7 and 8 gave the same sequence")
	}
	if tot := totalMilli(a); tot > 130000 || tot <= 130000-8000 {
		t.Errorf("total %d milli, want in (122000, 130000]", tot)
	}
	if !reflect.DeepEqual(in, before) {
		t.Error("Inflate changed its input")
	}
	seen := make(map[string]bool)
	for k, p := range a {
		if seen[p.Pod.Name] || p.Pod.UID != podUID(p.Pod.Name) {
			t.Fatalf("pod %d: name %q (dup %v), UID %q", k, p.Pod.Name, seen[p.Pod.Name], p.Pod.UID)
		}
		seen[p.Pod.Name] = true
		if p.CreatedAt != int64(k) || p.DeletedAt != NoTime || p.ScheduledAt != NoTime {
			t.Errorf("pod %d: times %d %d %d", k, p.CreatedAt, p.DeletedAt, p.ScheduledAt)
		}
		if m, err := gpuMilli(p.Pod); err != nil || m != p.GPUMilli {
			t.Errorf("pod %d: gpuMilli %d %v, GPUMilli %d", k, m, err, p.GPUMilli)
		}
	}
	// The copies are deep.
	a[0].Pod.Spec.Containers[0].Name = "changed"
	if b[0].Pod.Spec.Containers[0].Name == "changed" || in[0].Pod.Spec.Containers[0].Name == "changed" {
		t.Error("inflated pods share containers")
	}
}

func names(pods []Pod) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Pod.Name
	}
	return out
}

func TestInflatedName(t *testing.T) {
	long := "a" + strings.Repeat("b.", 125) + "c" // 252 characters
	for _, tt := range []struct {
		name string
		k    int
	}{{"openb-pod-0001", 17}, {long, 123456}} {
		got := inflatedName(tt.name, tt.k)
		if msgs := validation.IsDNS1123Subdomain(got); len(msgs) > 0 {
			t.Errorf("inflatedName(%q, %d) = %q: %v", tt.name, tt.k, got, msgs)
		}
	}
	if got := inflatedName("openb-pod-0001", 17); got != "openb-pod-0001-i17" {
		t.Errorf("got %q", got)
	}
}

// TestInflateOpenB runs the published experiment's inflation on the default trace.
func TestInflateOpenB(t *testing.T) {
	dir := openBDir(t)
	w, err := LoadOpenB(filepath.Join(dir, "openb_node_list_gpu_node.csv"), filepath.Join(dir, "openb_pod_list_default.csv"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var gpus int64
	for _, n := range w.Nodes {
		gpus += n.Status.Allocatable.Name(gpu.ResourceName, "").Value()
	}
	if gpus != 6212 {
		t.Fatalf("%d GPUs", gpus)
	}
	for seed := int64(42); seed <= 51; seed++ {
		got := Inflate(w.Pods, gpus, 1.3, seed)
		target := int64(8075600)
		if tot := totalMilli(got); tot > target || tot <= target-8000 {
			t.Errorf("seed %d: %d pods, %d milli, want in (%d, %d]", seed, len(got), tot, target-8000, target)
		}
		if seed == 42 {
			t.Logf("seed 42: %d pods; first %s", len(got), got[0].Pod.Name)
		}
		for _, p := range got {
			if p.Pod.Status.Phase != v1.PodPending {
				t.Fatalf("%s: phase %s", p.Pod.Name, p.Pod.Status.Phase)
			}
		}
	}
}
