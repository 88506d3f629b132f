package trace

import (
	"bytes"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"sigs.k8s.io/scheduler-plugins/apis/scheduling/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
)

// TestSnapshotOf turns live objects into the YAML formats and reads them back: nodes keep their
// allocatable, labels and taints (a DRA node its devices), Pods their requests, gpu-scheduler.io
// annotations, labels and tolerations in creation order; env values, Secrets, other annotations
// and finished Pods stay out.
func TestSnapshotOf(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(sec int) metav1.Time { return metav1.NewTime(t0.Add(time.Duration(sec) * time.Second)) }
	gpuNode := st.MakeNode().Name("gpu-0").Label(gpu.DefaultModelLabel, "NVIDIA-H100-80GB-HBM3").Label("rack", "r1").
		Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "96", v1.ResourceMemory: "1Ti", v1.ResourcePods: "110", gpu.ResourceName: "8"}).Obj()
	gpuNode.Labels[v1.LabelHostname] = "gpu-0"
	draNode := st.MakeNode().Name("dra-0").Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "64", v1.ResourceMemory: "512Gi"}).Obj()
	cpuNode := st.MakeNode().Name("cpu-0").Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "32", v1.ResourceMemory: "128Gi"}).
		Taints([]v1.Taint{{Key: "dedicated", Value: "etl", Effect: v1.TaintEffectNoSchedule}}).Obj()
	slice := gpu.NVIDIAGPUSlice("dra-0", "NVIDIA-B200", 4)

	train := st.MakePod().Namespace("ml").Name("train").Node("gpu-0").Label("team", "a").Label(v1alpha1.PodGroupLabel, "gang").
		Req(map[v1.ResourceName]string{v1.ResourceCPU: "8", v1.ResourceMemory: "64Gi", gpu.ResourceName: "2"}).
		Annotation(gpu.ModelAnnotation, "NVIDIA-H100-80GB-HBM3").Annotation("example.com/owner", "alice").Obj()
	train.CreationTimestamp = at(5)
	train.Spec.Containers[0].Env = []v1.EnvVar{{Name: "TOKEN", Value: "s3cr3t-env-value"}}
	train.Spec.Volumes = []v1.Volume{{Name: "creds", VolumeSource: v1.VolumeSource{Secret: &v1.SecretVolumeSource{SecretName: "db-password"}}}}
	share := st.MakePod().Namespace("ml").Name("notebook").Req(map[v1.ResourceName]string{v1.ResourceCPU: "2"}).
		Annotation(gpu.FractionAnnotation, "0.25").Annotation(gpu.GPUIndexAnnotation, "3").
		Toleration("nvidia.com/gpu").Obj()
	share.CreationTimestamp = at(0)
	done := st.MakePod().Namespace("ml").Name("done").Req(map[v1.ResourceName]string{gpu.ResourceName: "1"}).Obj()
	done.Status.Phase = v1.PodSucceeded
	bad := st.MakePod().Namespace("ml").Name("bad").Annotation(gpu.FractionAnnotation, "1.5").Obj()

	groups := []v1alpha1.PodGroup{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ml", Name: "gang"}, Spec: v1alpha1.PodGroupSpec{MinMember: 2}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ml", Name: "empty"}},
	}

	snap, err := SnapshotOf([]v1.Node{*gpuNode, *draNode, *cpuNode}, []v1.Pod{*train, *share, *done, *bad}, []resourceapi.ResourceSlice{*slice}, groups)
	if err != nil {
		t.Fatal(err)
	}
	if snap.GPUs != 12 || snap.Bound != 1 || snap.Pending != 1 || snap.BoundGPU != 1 || snap.PendingGPU != 1 || snap.HeldMilli != 2000 {
		t.Errorf("GPUs %d, bound %d (%d GPU), pending %d (%d GPU), held %d milli; want 12, 1 (1), 1 (1), 2000",
			snap.GPUs, snap.Bound, snap.BoundGPU, snap.Pending, snap.PendingGPU, snap.HeldMilli)
	}
	if snap.Skipped[SkipFinished] != 1 || snap.Skipped[SkipBadDemand] != 1 || snap.SkippedGroups != 1 {
		t.Errorf("skipped %v and %d PodGroups, want one finished Pod, one with a bad demand and the PodGroup without minMember", snap.Skipped, snap.SkippedGroups)
	}
	clusterYAML, err := yaml.Marshal(snap.Cluster)
	if err != nil {
		t.Fatal(err)
	}
	workloadYAML, err := yaml.Marshal(snap.Workload)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"s3cr3t-env-value", "TOKEN", "db-password", "alice", gpu.GPUIndexAnnotation} {
		if bytes.Contains(clusterYAML, []byte(secret)) || bytes.Contains(workloadYAML, []byte(secret)) {
			t.Errorf("the snapshot holds %q", secret)
		}
	}

	cluster, err := ReadClusterYAML(bytes.NewReader(clusterYAML), "cluster.yaml")
	if err != nil {
		t.Fatalf("reading the snapshot's cluster back: %v\n%s", err, clusterYAML)
	}
	if len(cluster.Nodes) != 3 || cluster.GPUs() != 12 || len(cluster.Slices) != 1 {
		t.Fatalf("%d nodes, %d GPUs, %d slices; want 3, 12, 1", len(cluster.Nodes), cluster.GPUs(), len(cluster.Slices))
	}
	g := cluster.Nodes[0]
	if g.Labels[gpu.DefaultModelLabel] != "NVIDIA-H100-80GB-HBM3" || g.Labels["rack"] != "r1" {
		t.Errorf("gpu-0 labels %v", g.Labels)
	}
	checkQuantity(t, g.Status.Allocatable, gpu.ResourceName, "8")
	checkQuantity(t, g.Status.Allocatable, v1.ResourceMemory, "1Ti")
	if p := cluster.Slices[0].Spec.Devices[0].Attributes[gpu.ProductNameAttribute].StringValue; p == nil || *p != "NVIDIA-B200" {
		t.Errorf("dra-0's devices: productName %v, want NVIDIA-B200", p)
	}
	if taints := cluster.Nodes[2].Spec.Taints; len(taints) != 1 || taints[0].Key != "dedicated" {
		t.Errorf("cpu-0 taints %v", taints)
	}

	pods, err := ReadWorkloadYAML(bytes.NewReader(workloadYAML), "workload.yaml")
	if err != nil {
		t.Fatalf("reading the snapshot's workload back: %v\n%s", err, workloadYAML)
	}
	if len(pods) != 2 || pods[0].Pod.Name != "ml.notebook" || pods[1].Pod.Name != "ml.train" {
		t.Fatalf("pods %v, want ml.notebook then ml.train (creation order)", podNames(pods))
	}
	if pods[0].GPUMilli != 250 || pods[0].CreatedAt != 0 || len(pods[0].Pod.Spec.Tolerations) != 1 {
		t.Errorf("ml.notebook: %d milli, created at %d, tolerations %v; want 250, 0, one", pods[0].GPUMilli, pods[0].CreatedAt, pods[0].Pod.Spec.Tolerations)
	}
	tr := pods[1]
	if tr.GPUMilli != 2000 || tr.CreatedAt != 5 || tr.Pod.Annotations[gpu.ModelAnnotation] != "NVIDIA-H100-80GB-HBM3" || tr.Pod.Labels["team"] != "a" {
		t.Errorf("ml.train: %d milli, created at %d, annotations %v, labels %v", tr.GPUMilli, tr.CreatedAt, tr.Pod.Annotations, tr.Pod.Labels)
	}
	if tr.Node != "gpu-0" || pods[0].Node != "" {
		t.Errorf("nodes %q and %q, want gpu-0 for the bound Pod and none for the pending one", tr.Node, pods[0].Node)
	}
	if tr.Gang == nil || *tr.Gang != (Gang{Name: "ml.gang", MinMember: 2}) || tr.Pod.Labels[v1alpha1.PodGroupLabel] != "ml.gang" {
		t.Errorf("ml.train: gang %+v, label %q; want ml.gang of 2, named by its label", tr.Gang, tr.Pod.Labels[v1alpha1.PodGroupLabel])
	}
	if got := tr.Pod.Spec.Containers[0].Resources.Requests[v1.ResourceMemory]; got.Cmp(resource.MustParse("64Gi")) != 0 {
		t.Errorf("ml.train memory %s, want 64Gi", got.String())
	}
}

// TestSnapshotRefusesNodeName: a node the formats cannot name is an error naming it.
func TestSnapshotRefusesNodeName(t *testing.T) {
	n := st.MakeNode().Name(strings.Repeat("n", 70)).Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "1", v1.ResourceMemory: "1Gi"}).Obj()
	if _, err := SnapshotOf([]v1.Node{*n}, nil, nil, nil); err == nil || !strings.Contains(err.Error(), "node "+n.Name) {
		t.Errorf("err %v, want one naming the node", err)
	}
}

func podNames(pods []Pod) []string {
	out := make([]string, len(pods))
	for i := range pods {
		out[i] = pods[i].Pod.Name
	}
	return out
}

// TestSnapshotLongGroupName: a PodGroup whose name, with its namespace, is too long for a label value
// is left out and counted; its member keeps its label as it was, belongs to no gang, and the
// workload reads back.
func TestSnapshotLongGroupName(t *testing.T) {
	long := strings.Repeat("g", 62)
	pod := st.MakePod().Namespace("ml").Name("w").Label(v1alpha1.PodGroupLabel, long).Req(map[v1.ResourceName]string{gpu.ResourceName: "1"}).Obj()
	group := v1alpha1.PodGroup{ObjectMeta: metav1.ObjectMeta{Namespace: "ml", Name: long}, Spec: v1alpha1.PodGroupSpec{MinMember: 1}}
	snap, err := SnapshotOf(nil, []v1.Pod{*pod}, nil, []v1alpha1.PodGroup{group})
	if err != nil {
		t.Fatal(err)
	}
	if snap.SkippedGroups != 1 || len(snap.Workload.PodGroups) != 0 {
		t.Errorf("%d PodGroups skipped, %d written; want the long one skipped", snap.SkippedGroups, len(snap.Workload.PodGroups))
	}
	data, err := yaml.Marshal(snap.Workload)
	if err != nil {
		t.Fatal(err)
	}
	pods, err := ReadWorkloadYAML(bytes.NewReader(data), "workload.yaml")
	if err != nil {
		t.Fatalf("reading the workload back: %v\n%s", err, data)
	}
	if pods[0].Gang != nil || pods[0].Pod.Labels[v1alpha1.PodGroupLabel] != long {
		t.Errorf("gang %+v, label %q; want no gang and the label as it was", pods[0].Gang, pods[0].Pod.Labels[v1alpha1.PodGroupLabel])
	}
}
