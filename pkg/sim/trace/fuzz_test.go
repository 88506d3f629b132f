package trace

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
)

// firstLines is the header and the first n rows of an openb file, for seeding the fuzzers; nil
// without the trace.
func firstLines(file string, n int) []byte {
	dir := findOpenBDir()
	if dir == "" {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return nil
	}
	lines := bytes.SplitAfterN(b, []byte("\n"), n+2)
	return bytes.Join(lines[:min(len(lines), n+1)], nil)
}

func FuzzOpenBPods(f *testing.F) {
	for _, file := range []string{"openb_pod_list_default.csv", "openb_pod_list_gpuspec33.csv", "openb_pod_list_multigpu50.csv"} {
		if b := firstLines(file, 6); b != nil {
			f.Add(b)
		}
	}
	f.Add([]byte(podHeader + "p,1,0,1,5,A|B,LS,Running,1,,\n"))
	f.Add([]byte(shortPodHeader + "p,1,1,8,1000\nq,-1,1,2,500\n"))
	f.Add([]byte(podHeader + "\"p\",1,0,1,5,\"A|B\",\"L,S\",\"a \"\"b\"\"\",1,,\nq,1,\"1\n\",0,0,,,,0,,\n"))
	f.Add([]byte(podHeader + "p,1,1,1,1001,,,,0,0,0\np,1,1,0,0,,,,0,0,0\n"))
	f.Add([]byte(nodeHeader))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, lenient := range []bool{false, true} {
			pods, skips, err := ReadOpenBPods(bytes.NewReader(data), "f.csv", Options{Lenient: lenient})
			if err != nil {
				if pods != nil || skips != nil {
					t.Fatalf("error %v with results", err)
				}
				continue
			}
			if !lenient && len(skips) > 0 {
				t.Fatalf("strict mode skipped rows: %v", skips)
			}
			for _, s := range skips {
				if s.Line < 2 || s.Reason == "" || !strings.HasPrefix(s.Error(), "f.csv:") {
					t.Fatalf("bad skip %+v", s)
				}
			}
			seen := make(map[string]bool)
			for _, p := range pods {
				checkPod(t, p, seen)
				if p.CreatedAt < 0 || (p.DeletedAt != NoTime && p.DeletedAt < p.CreatedAt) {
					t.Fatalf("%s: times %d..%d", p.Pod.Name, p.CreatedAt, p.DeletedAt)
				}
				res := p.Pod.Spec.Containers[0].Resources
				if res.Requests.Cpu().Sign() < 0 || res.Requests.Memory().Sign() < 0 {
					t.Fatalf("%s: negative request %v", p.Pod.Name, res.Requests)
				}
				if _, ok := p.Pod.Annotations[gpu.FractionAnnotation]; ok && (p.GPUMilli <= 0 || p.GPUMilli >= 1000) {
					t.Fatalf("%s: fraction with %d milli", p.Pod.Name, p.GPUMilli)
				}
			}
		}
	})
}

// checkPod asserts a loaded pod is sane: a valid unique name, one container, requests equal to
// limits, and GPUMilli matching what the object says.
func checkPod(t *testing.T, p Pod, seen map[string]bool) {
	t.Helper()
	pod := p.Pod
	if pod == nil || len(validation.IsDNS1123Subdomain(pod.Name)) > 0 || seen[pod.Name] || pod.Namespace != Namespace || pod.UID != podUID(pod.Name) {
		t.Fatalf("bad pod meta %+v", pod)
	}
	seen[pod.Name] = true
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%s: %d containers", pod.Name, len(pod.Spec.Containers))
	}
	res := pod.Spec.Containers[0].Resources
	if !equalLists(res.Requests, res.Limits) {
		t.Fatalf("%s: requests %v, limits %v", pod.Name, res.Requests, res.Limits)
	}
	m, err := gpuMilli(pod)
	if err != nil || m != p.GPUMilli || m < 0 || m > MaxGPUsPerObject*gpu.MilliPerGPU {
		t.Fatalf("%s: gpuMilli %d, %v; GPUMilli %d", pod.Name, m, err, p.GPUMilli)
	}
	if spec, ok := pod.Annotations[gpu.ModelAnnotation]; ok {
		for _, model := range strings.Split(spec, "|") {
			if model == "" || len(validation.IsValidLabelValue(model)) > 0 {
				t.Fatalf("%s: model annotation %q", pod.Name, spec)
			}
		}
	}
}

func FuzzOpenBNodes(f *testing.F) {
	for _, file := range []string{"openb_node_list_gpu_node.csv", "openb_node_list_all_node.csv"} {
		if b := firstLines(file, 6); b != nil {
			f.Add(b)
		}
	}
	f.Add([]byte(nodeHeader + "n,96000,393216,8,G2\nn,1,1,0,\nm,-1,1,0,\n"))
	f.Add([]byte(podHeader))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, lenient := range []bool{false, true} {
			nodes, skips, err := ReadOpenBNodes(bytes.NewReader(data), "f.csv", Options{Lenient: lenient})
			if err != nil {
				if nodes != nil || skips != nil {
					t.Fatalf("error %v with results", err)
				}
				continue
			}
			if !lenient && len(skips) > 0 {
				t.Fatalf("strict mode skipped rows: %v", skips)
			}
			seen := make(map[string]bool)
			for _, n := range nodes {
				checkNode(t, n, seen)
				if n.Status.Allocatable[v1.ResourcePods] != n.Status.Capacity[v1.ResourcePods] || n.Status.Allocatable.Pods().Value() != OpenBMaxPods {
					t.Fatalf("%s: pods %v", n.Name, n.Status.Allocatable)
				}
			}
		}
	})
}

// checkNode asserts a loaded node is sane.
func checkNode(t *testing.T, n *v1.Node, seen map[string]bool) {
	t.Helper()
	if len(validation.IsDNS1123Subdomain(n.Name)) > 0 || seen[n.Name] || n.Labels[v1.LabelHostname] != n.Name {
		t.Fatalf("bad node meta %+v", n.ObjectMeta)
	}
	seen[n.Name] = true
	for k, v := range n.Labels {
		if len(validation.IsQualifiedName(k)) > 0 || len(validation.IsValidLabelValue(v)) > 0 {
			t.Fatalf("%s: label %q=%q", n.Name, k, v)
		}
	}
	if !equalLists(n.Status.Capacity, n.Status.Allocatable) {
		t.Fatalf("%s: capacity %v, allocatable %v", n.Name, n.Status.Capacity, n.Status.Allocatable)
	}
	for name, q := range n.Status.Allocatable {
		if q.Sign() < 0 {
			t.Fatalf("%s: negative %s", n.Name, name)
		}
	}
	g, hasGPU := n.Status.Allocatable[gpu.ResourceName]
	if hasGPU && (g.Sign() <= 0 || g.Value() > MaxGPUsPerObject) {
		t.Fatalf("%s: %s %s", n.Name, gpu.ResourceName, g.String())
	}
	if len(n.Status.Conditions) != 1 || n.Status.Conditions[0].Type != v1.NodeReady || n.Status.Conditions[0].Status != v1.ConditionTrue {
		t.Fatalf("%s: conditions %v", n.Name, n.Status.Conditions)
	}
}

func FuzzWorkloadYAML(f *testing.F) {
	for _, file := range []string{"../../../examples/sim/workload.yaml", "../../../examples/sim/cluster.yaml", "../../../examples/sim/cluster-dra.yaml"} {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("pods:\n- name: a\n  count: 3\n  gpuFraction: 0.5\n  models: T4\n- name: b\n  gpus: 2\n  cpu: 1\n  memory: 1Gi\n  createdAt: 3\n  deletedAt: 4\n"))
	f.Add([]byte("pods:\n- name: a\n  annotations: {gpu-fraction: \"0.3\"}\n  tolerations: [{operator: Exists}]\n  interconnect: [infiniband]\n"))
	f.Add([]byte("pods: [{name: x, gpus: 1, gpuFraction: .5}]\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pods, err := ReadWorkloadYAML(bytes.NewReader(data), "w.yaml")
		if err != nil {
			if pods != nil || !strings.HasPrefix(err.Error(), "w.yaml: ") {
				t.Fatalf("error %v with %d pods", err, len(pods))
			}
		} else {
			seen := make(map[string]bool)
			for _, p := range pods {
				checkPod(t, p, seen)
				if p.CreatedAt < 0 || (p.DeletedAt != NoTime && p.DeletedAt < p.CreatedAt) {
					t.Fatalf("%s: times %d..%d", p.Pod.Name, p.CreatedAt, p.DeletedAt)
				}
				for k, v := range p.Pod.Labels {
					if len(validation.IsQualifiedName(k)) > 0 || len(validation.IsValidLabelValue(v)) > 0 {
						t.Fatalf("%s: label %q=%q", p.Pod.Name, k, v)
					}
				}
			}
		}
		// The same bytes as a cluster must not panic either.
		nodesCluster, err := ReadClusterYAML(bytes.NewReader(data), "c.yaml")
		nodes := nodesCluster.Nodes
		if err == nil {
			seen := make(map[string]bool)
			for _, n := range nodes {
				checkNode(t, n, seen)
			}
		}
	})
}
