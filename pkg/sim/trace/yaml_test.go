package trace

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
)

func TestExampleCluster(t *testing.T) {
	cluster, err := LoadClusterYAML("../../../examples/sim/cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	nodes := cluster.Nodes
	byName := make(map[string]*v1.Node)
	var gpus int64
	for _, n := range nodes {
		byName[n.Name] = n
		gpus += n.Status.Allocatable.Name(gpu.ResourceName, "").Value()
	}
	if len(nodes) != 28 || gpus != 84 {
		t.Errorf("%d nodes, %d GPUs; want 28, 84", len(nodes), gpus)
	}
	h := byName["h100-3"]
	if h == nil || h.Labels[gpu.InterconnectLabelPrefix+"infiniband"] != "true" || h.Labels[gpu.DefaultModelLabel] != "NVIDIA-H100-80GB-HBM3" ||
		h.Labels[v1.LabelHostname] != "h100-3" || len(h.Spec.Taints) != 1 || h.Spec.Taints[0].Effect != v1.TaintEffectNoSchedule {
		t.Errorf("h100-3: %+v %+v", h.ObjectMeta, h.Spec)
	}
	checkQuantity(t, h.Status.Capacity, v1.ResourceMemory, "2Ti")
	checkQuantity(t, h.Status.Allocatable, v1.ResourceCPU, "224")
	checkQuantity(t, h.Status.Allocatable, gpu.ResourceName, "8")
	checkQuantity(t, h.Status.Allocatable, v1.ResourcePods, "110")
	c := byName["cpu-5"]
	if c == nil || c.Labels[gpu.DefaultModelLabel] != "" || c.Status.Allocatable.Name(gpu.ResourceName, "").Value() != 0 {
		t.Fatalf("cpu-5: %+v", c)
	}
	if _, ok := c.Status.Allocatable[gpu.ResourceName]; ok {
		t.Errorf("CPU node with %s", gpu.ResourceName)
	}
	checkQuantity(t, c.Status.Allocatable, v1.ResourcePods, "250")
}

// TestClusterYAMLDRA: a DRA node's GPUs are devices of its ResourceSlice, as NVIDIA's DRA driver
// publishes them, with the model as their productName; the node itself shows no GPU.
func TestClusterYAMLDRA(t *testing.T) {
	cluster, err := ReadClusterYAML(strings.NewReader(`nodes:
- {name: b200, count: 2, cpu: "128", memory: 2Ti, gpus: 8, model: NVIDIA-B200, dra: true, labels: {rack: r1}}
- {name: h100, cpu: "128", memory: 2Ti, gpus: 4, model: NVIDIA-H100-80GB-HBM3}
`), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cluster.Nodes) != 3 || len(cluster.Slices) != 2 || cluster.GPUs() != 20 {
		t.Fatalf("%d nodes, %d slices, %d GPUs; want 3, 2, 20", len(cluster.Nodes), len(cluster.Slices), cluster.GPUs())
	}
	for i, n := range cluster.Nodes[:2] {
		if _, ok := n.Status.Allocatable[gpu.ResourceName]; ok || n.Labels[gpu.DefaultModelLabel] != "" || n.Labels["rack"] != "r1" {
			t.Errorf("DRA node %s: allocatable %v, labels %v; want no GPU and no model label", n.Name, n.Status.Allocatable, n.Labels)
		}
		s := cluster.Slices[i]
		if s.Spec.NodeName == nil || *s.Spec.NodeName != n.Name || s.Spec.Driver != gpu.NVIDIADriver || len(s.Spec.Devices) != 8 {
			t.Fatalf("slice %d: %+v, want 8 %s devices on %s", i, s.Spec, gpu.NVIDIADriver, n.Name)
		}
		if p := s.Spec.Devices[7].Attributes[gpu.ProductNameAttribute].StringValue; p == nil || *p != "NVIDIA-B200" {
			t.Errorf("slice %d device gpu-7: productName %v, want NVIDIA-B200", i, p)
		}
	}
	checkQuantity(t, cluster.Nodes[2].Status.Allocatable, gpu.ResourceName, "4")
}

func TestExampleWorkload(t *testing.T) {
	pods, err := LoadWorkloadYAML("../../../examples/sim/workload.yaml")
	if err != nil {
		t.Fatal(err)
	}
	byName := make(map[string]Pod)
	for _, p := range pods {
		byName[p.Pod.Name] = p
		if m, err := gpuMilli(p.Pod); err != nil || m != p.GPUMilli {
			t.Errorf("%s: gpuMilli %d, %v; GPUMilli %d", p.Pod.Name, m, err, p.GPUMilli)
		}
	}
	if len(pods) != 85 {
		t.Errorf("%d pods, want 85", len(pods))
	}
	pre := byName["llm-pretrain-1"]
	if pre.Pod == nil || pre.GPUMilli != 8000 || pre.Pod.Annotations[gpu.InterconnectAnnotation] != "infiniband" ||
		pre.Pod.Annotations[gpu.ModelAnnotation] != "NVIDIA-H100-80GB-HBM3" || len(pre.Pod.Spec.Tolerations) != 1 ||
		pre.Pod.Labels["team"] != "foundation" || pre.DeletedAt != NoTime {
		t.Errorf("llm-pretrain-1: %+v", pre)
	}
	ft := byName["finetune-5"]
	if ft.Pod.Annotations[gpu.ModelAnnotation] != "NVIDIA-A100-SXM4-80GB|NVIDIA-H100-80GB-HBM3" ||
		ft.Pod.Annotations[gpu.PreferredInterconnectAnnotation] != "infiniband" || ft.CreatedAt != 60 || ft.DeletedAt != 14400 {
		t.Errorf("finetune-5: %+v", ft)
	}
	ev := byName["eval-llama"]
	if ev.Pod == nil || ev.GPUMilli != 2000 || ev.Pod.Annotations["example.com/owner"] != "alice" {
		t.Errorf("eval-llama: %+v", ev)
	}
	nb := byName["notebook-19"]
	res := nb.Pod.Spec.Containers[0].Resources
	if nb.GPUMilli != 250 || nb.Pod.Annotations[gpu.FractionAnnotation] != "0.25" || res.Requests.Name(gpu.ResourceName, "").Value() != 0 {
		t.Errorf("notebook-19: %+v", nb)
	}
	checkQuantity(t, res.Requests, v1.ResourceMemory, "16Gi")
	checkQuantity(t, res.Limits, v1.ResourceCPU, "4")
	if e := byName["embed-0"]; e.GPUMilli != 300 || e.Pod.Annotations[gpu.FractionAnnotation] != "0.3" {
		t.Errorf("embed-0: %+v", e)
	}
	if e := byName["etl-0"]; e.GPUMilli != 0 || len(e.Pod.Annotations) != 0 {
		t.Errorf("etl-0: %+v", e)
	}
}

func TestWorkloadYAMLMapping(t *testing.T) {
	pods, err := ReadWorkloadYAML(strings.NewReader(`
pods:
- name: a
  gpuFraction: 0.005
  interconnect: infiniband
  preferredInterconnect: [nvlink, infiniband, nvlink]
- name: b
  count: 0
  gpus: 1
- name: c
  count: 1
  cpu: 500m
  tolerations: [{operator: Exists}]
`), "w.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 2 || pods[0].Pod.Name != "a" || pods[1].Pod.Name != "c-0" {
		t.Fatalf("pods %v", pods)
	}
	a := pods[0].Pod
	if a.Annotations[gpu.FractionAnnotation] != "0.005" || pods[0].GPUMilli != 5 || a.Annotations[gpu.InterconnectAnnotation] != "infiniband" ||
		a.Annotations[gpu.PreferredInterconnectAnnotation] != "infiniband,nvlink" || a.Spec.Containers[0].Resources.Requests != nil {
		t.Errorf("a: %+v", a)
	}
	c := pods[1].Pod
	checkQuantity(t, c.Spec.Containers[0].Resources.Requests, v1.ResourceCPU, "500m")
	if _, ok := c.Spec.Containers[0].Resources.Requests[v1.ResourceMemory]; ok {
		t.Errorf("c: memory request without memory")
	}
	if len(c.Spec.Tolerations) != 1 || c.Spec.Tolerations[0].Operator != v1.TolerationOpExists {
		t.Errorf("c: tolerations %+v", c.Spec.Tolerations)
	}
}

func TestClusterYAMLErrors(t *testing.T) {
	const ok = "  cpu: 8\n  memory: 32Gi\n"
	tests := []struct{ name, yaml, want string }{
		{"unknown field", "nodes:\n- name: a\n" + ok + "  gpu: 8\n", `c.yaml: nodes[0] "a": unknown field "gpu"`},
		{"top-level pods", "pods: []\n", `c.yaml: unknown field "pods", want only "nodes"`},
		{"entry not a map", "nodes: [a]\n", `nodes[0] "": cannot unmarshal string`},
		{"nodes not a list", "nodes: {a: 1}\n", `c.yaml: `},
		{"duplicate key", "nodes:\n- name: a\n  name: b\n" + ok, `"name" already set`},
		{"not YAML", "nodes: [", "c.yaml: "},
		{"no nodes", "nodes: []\n", "c.yaml: no nodes"},
		{"empty", "", "c.yaml: no nodes"},
		{"no name", "nodes:\n-" + ok[1:], `nodes[0] "": name is required`},
		{"no cpu", "nodes:\n- name: a\n  memory: 1Gi\n", `c.yaml: nodes[0] "a": cpu is required`},
		{"bad memory", "nodes:\n- name: a\n  cpu: 8\n  memory: 32GB\n", `nodes[0] "a": memory "32GB": not a Kubernetes quantity`},
		{"negative cpu", "nodes:\n- name: a\n  cpu: -8\n  memory: 1Gi\n", `nodes[0] "a": cpu "-8" is negative`},
		{"negative count", "nodes:\n- name: a\n  count: -1\n" + ok, `nodes[0] "a": count -1 is negative`},
		{"huge count", "nodes:\n- name: a\n  count: 2000000\n" + ok, `nodes[0] "a": count 2000000: more than 1000000 nodes in all`},
		{"total cap", "nodes:\n- name: a\n  count: 600000\n" + ok + "- name: b\n  count: 600000\n" + ok, `nodes[1] "b": count 600000: more than 1000000 nodes in all`},
		{"fractional count", "nodes:\n- name: a\n  count: 1.5\n" + ok, "cannot unmarshal number 1.5"},
		{"bad name", "nodes:\n- name: A_1\n" + ok, `nodes[0] "A_1": node name "A_1": not a valid name`},
		{"duplicate names", "nodes:\n- name: a\n  count: 2\n" + ok + "- name: a-1\n" + ok, `nodes[1] "a-1": node name "a-1" is also made by nodes[0] "a"`},
		{"model without GPUs", "nodes:\n- name: a\n  model: T4\n" + ok, `model "T4" on a node without gpus`},
		{"negative GPUs", "nodes:\n- name: a\n  gpus: -2\n" + ok, `gpus -2: want 0 to 65536`},
		{"hostname label", "nodes:\n- name: a\n  labels: {kubernetes.io/hostname: x}\n" + ok, "is set from the node name"},
		{"bad label", "nodes:\n- name: a\n  labels: {\"a b\": x}\n" + ok, `labels: key "a b"`},
		{"model label conflict", "nodes:\n- name: a\n  gpus: 1\n  model: T4\n  labels: {nvidia.com/gpu.product: A10}\n" + ok, "disagree"},
		{"taint effect", "nodes:\n- name: a\n  taints: [{key: k, effect: Never}]\n" + ok, `taints[0]: effect "Never"`},
		{"dra without GPUs", "nodes:\n- name: a\n  dra: true\n" + ok, "dra on a node without gpus"},
		{"dra beyond a slice", "nodes:\n- name: a\n  gpus: 129\n  dra: true\n" + ok, "gpus 129: a DRA node's ResourceSlice holds at most 128 devices"},
		{"dra not a bool", "nodes:\n- name: a\n  gpus: 8\n  dra: yes please\n" + ok, "cannot unmarshal string"},
		{"taint unknown field", "nodes:\n- name: a\n  taints: [{key: k, effect: NoSchedule, operator: Equal}]\n" + ok, `nodes[0] "a": unknown field "operator"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cluster, err := ReadClusterYAML(strings.NewReader(tt.yaml), "c.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) || cluster.Nodes != nil {
				t.Errorf("got %d nodes, %v; want an error containing %q", len(cluster.Nodes), err, tt.want)
			}
		})
	}
}

func TestWorkloadYAMLErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown field", "pods:\n- name: a\n  gpu: 1\n", `w.yaml: pods[0] "a": unknown field "gpu"`},
		{"mutually exclusive", "pods:\n- name: x\n- name: y\n- name: z\n- name: train\n  gpus: 1\n  gpuFraction: 0.5\n", `w.yaml: pods[3] "train": gpus and gpuFraction are mutually exclusive`},
		{"fraction 1", "pods:\n- name: a\n  gpuFraction: 1\n", `pods[0] "a": gpuFraction: GPU fraction "1"`},
		{"fraction 4 decimals", "pods:\n- name: a\n  gpuFraction: 0.0005\n", `pods[0] "a": gpuFraction: GPU fraction "0.0005"`},
		{"fraction empty", "pods:\n- name: a\n  gpuFraction: \"\"\n", `pods[0] "a": gpuFraction`},
		{"models without GPU", "pods:\n- name: a\n  models: [T4]\n", "models without gpus or gpuFraction"},
		{"model with separator", "pods:\n- name: a\n  gpus: 1\n  models: [\"T4|A10\"]\n", `models[0] "T4|A10"`},
		{"models not strings", "pods:\n- name: a\n  gpus: 1\n  models: {a: b}\n", "want a string or a list of strings"},
		{"upper-case interconnect", "pods:\n- name: a\n  interconnect: [InfiniBand]\n", `interconnect[0] "InfiniBand": want a lower-case interconnect name`},
		{"annotation conflict", "pods:\n- name: a\n  gpus: 1\n  models: [T4]\n  annotations: {gpu-scheduler.io/gpu-model: A10}\n", "annotations: gpu-scheduler.io/gpu-model is set by models"},
		{"fraction annotation conflict", "pods:\n- name: a\n  gpuFraction: 0.5\n  annotations: {gpu-fraction: \"0.5\"}\n", "annotations: gpu-fraction is set by gpuFraction"},
		{"fraction annotation with GPUs", "pods:\n- name: a\n  gpus: 1\n  annotations: {gpu-fraction: \"0.5\"}\n", "mutually exclusive"},
		{"bad fraction annotation, count 0", "pods:\n- name: a\n  count: 0\n  annotations: {gpu-fraction: half}\n", `pods[0] "a": annotation gpu-fraction: GPU fraction "half"`},
		{"negative createdAt", "pods:\n- name: a\n  createdAt: -1\n", "createdAt -1 is negative"},
		{"deleted before created", "pods:\n- name: a\n  createdAt: 10\n  deletedAt: 5\n", "deletedAt 5 is before createdAt 10"},
		{"too many GPUs", "pods:\n- name: a\n  gpus: 100000\n", "gpus 100000: want 0 to 65536"},
		{"duplicate names", "pods:\n- name: a-0\n- name: a\n  count: 1\n", `pods[1] "a": pod name "a-0" is also made by pods[0] "a-0"`},
		{"long expanded name", "pods:\n- name: " + strings.Repeat("a", 252) + "\n  count: 10\n", "not a valid name"},
		{"bad toleration", "pods:\n- name: a\n  tolerations: [{key: k, operator: Exists, value: v}]\n", "tolerations[0]: operator Exists takes no value"},
		{"equal toleration without key", "pods:\n- name: a\n  tolerations: [{value: v}]\n", "tolerations[0]: operator Equal needs a key"},
		{"no pods", "pods:\n", "w.yaml: no pods"},
		{"nodes in workload", "nodes: []\n", `unknown field "nodes", want only "pods" and "podGroups"`},
		{"podGroups alone", "podGroups: [{name: g, minMember: 2}]\n", "w.yaml: no pods"},
		{"podGroup minMember 0", "pods:\n- name: a\npodGroups: [{name: g}]\n", `w.yaml: podGroups[0] "g": minMember 0: want at least 1`},
		{"podGroup bad name", "pods:\n- name: a\npodGroups: [{name: G_1, minMember: 1}]\n", `podGroups[0] "G_1": not a valid name`},
		{"podGroup long name", "pods:\n- name: a\npodGroups: [{name: " + strings.Repeat("g", 64) + ", minMember: 1}]\n", "not a valid scheduling.x-k8s.io/pod-group label value"},
		{"podGroup twice", "pods:\n- name: a\npodGroups: [{name: g, minMember: 1}, {name: g, minMember: 2}]\n", `podGroups[1] "g": named twice`},
		{"podGroup unknown field", "pods:\n- name: a\npodGroups: [{name: g, minMember: 1, size: 2}]\n", `podGroups[0] "g": unknown field "size"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pods, err := ReadWorkloadYAML(strings.NewReader(tt.yaml), "w.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) || pods != nil {
				t.Errorf("got %d pods, %v; want an error containing %q", len(pods), err, tt.want)
			}
		})
	}
}

func TestClusterYAMLScalars(t *testing.T) {
	cluster, err := ReadClusterYAML(strings.NewReader(`
nodes:
- name: node
  cpu: 8
  memory: 1073741824
  gpus: 2
  model: Tesla-T4
  labels: {interconnect.gpu-scheduler.io/infiniband: true, rack: 12}
`), "c.yaml")
	nodes := cluster.Nodes
	if err != nil || len(nodes) != 1 {
		t.Fatalf("%v, %v", nodes, err)
	}
	n := nodes[0]
	checkQuantity(t, n.Status.Allocatable, v1.ResourceCPU, "8")
	checkQuantity(t, n.Status.Allocatable, v1.ResourceMemory, "1Gi")
	checkQuantity(t, n.Status.Capacity, gpu.ResourceName, "2")
	if n.Labels[gpu.InterconnectLabelPrefix+"infiniband"] != "true" || n.Labels["rack"] != "12" || n.Labels[gpu.DefaultModelLabel] != "Tesla-T4" || n.Name != "node" {
		t.Errorf("labels %v", n.Labels)
	}
}

// TestWorkloadYAMLPodGroups: the Pods whose pod-group label names a declared PodGroup share its
// Gang; a label naming none leaves the Pod out of any gang.
func TestWorkloadYAMLPodGroups(t *testing.T) {
	pods, err := ReadWorkloadYAML(strings.NewReader(`pods:
- {name: w, count: 2, gpus: 8, labels: {scheduling.x-k8s.io/pod-group: train}}
- {name: stray, gpus: 1, labels: {scheduling.x-k8s.io/pod-group: undeclared}}
- {name: solo, gpus: 1}
podGroups:
- {name: train, minMember: 2}
`), "w.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 4 || pods[0].Gang == nil || pods[0].Gang != pods[1].Gang || *pods[0].Gang != (Gang{Name: "train", MinMember: 2}) {
		t.Fatalf("members' gangs %+v, %+v; want one shared train gang of 2", pods[0].Gang, pods[1].Gang)
	}
	if pods[2].Gang != nil || pods[3].Gang != nil {
		t.Errorf("stray %+v, solo %+v: want no gang", pods[2].Gang, pods[3].Gang)
	}
}
