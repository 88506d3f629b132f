package util

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const (
	// GPUResource is the NVIDIA device plugin's extended resource.
	GPUResource corev1.ResourceName = "nvidia.com/gpu"
	// ModelLabel is the GPU product label GPU Feature Discovery writes.
	ModelLabel = "nvidia.com/gpu.product"
	// InfiniBandLabel marks a node with InfiniBand (config/scheduler-config.yaml).
	InfiniBandLabel = "interconnect.gpu-scheduler.io/infiniband"
	// InterconnectAnnotation requires an interconnect of a Pod's node.
	InterconnectAnnotation = "gpu-scheduler.io/interconnect"
	// FractionAnnotation asks for a share of one GPU.
	FractionAnnotation = "gpu-fraction"
	// GPUIndexAnnotation is written by the scheduler on a Pod holding a share.
	GPUIndexAnnotation = "gpu-scheduler.io/gpu-index"
	// DefaultGPUModel is the GPU product of GPU nodes unless NodeSpec says otherwise.
	DefaultGPUModel = "NVIDIA-A100-SXM4-80GB"
)

// NodeSpec describes a fake node. Zero values get defaults: 64 CPUs, 512Gi memory, 110 Pods.
type NodeSpec struct {
	Name   string
	GPUs   int64
	CPU    string
	Memory string
	Pods   int64
	// GPUModel is the nvidia.com/gpu.product label of a GPU node (default DefaultGPUModel).
	GPUModel string
	Labels   map[string]string
	Taints   []corev1.Taint
	// Unschedulable cordons the node.
	Unschedulable bool
}

// Node builds the Node object: capacity = allocatable, GFD-style labels on GPU nodes, Ready.
func (s NodeSpec) Node() *corev1.Node {
	cpu, mem, pods := s.CPU, s.Memory, s.Pods
	if cpu == "" {
		cpu = "64"
	}
	if mem == "" {
		mem = "512Gi"
	}
	if pods == 0 {
		pods = 110
	}
	labels := map[string]string{
		"kubernetes.io/hostname": s.Name,
		"kubernetes.io/os":       "linux",
		"kubernetes.io/arch":     "amd64",
	}
	res := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(cpu),
		corev1.ResourceMemory: resource.MustParse(mem),
		corev1.ResourcePods:   *resource.NewQuantity(pods, resource.DecimalSI),
	}
	if s.GPUs > 0 {
		model := s.GPUModel
		if model == "" {
			model = DefaultGPUModel
		}
		labels[ModelLabel] = model
		labels["nvidia.com/gpu.present"] = "true"
		labels["nvidia.com/gpu.count"] = fmt.Sprint(s.GPUs)
		labels["nvidia.com/gpu.memory"] = "81920"
		labels["nvidia.com/gpu.family"] = "ampere"
		res[GPUResource] = *resource.NewQuantity(s.GPUs, resource.DecimalSI)
	}
	for k, v := range s.Labels {
		labels[k] = v
	}
	now := metav1.Now()
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Labels: labels},
		Spec:       corev1.NodeSpec{Taints: s.Taints, Unschedulable: s.Unschedulable},
		Status: corev1.NodeStatus{
			Capacity:    res,
			Allocatable: res.DeepCopy(),
			Phase:       corev1.NodeRunning,
			Conditions: []corev1.NodeCondition{{
				Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
				Message: "fake node for integration tests", LastHeartbeatTime: now, LastTransitionTime: now,
			}},
			NodeInfo: corev1.NodeSystemInfo{OperatingSystem: "linux", Architecture: "amd64", KubeletVersion: "v1.36.3"},
		},
	}
}

// CreateNode creates the node and then sets its status (capacity, allocatable, Ready), as a kubelet
// registering itself would.
func (e *Env) CreateNode(spec NodeSpec) *corev1.Node {
	e.T.Helper()
	want := spec.Node()
	got, err := e.Client.CoreV1().Nodes().Create(e.Ctx, want, metav1.CreateOptions{})
	if err != nil {
		e.T.Fatalf("creating node %s: %v", spec.Name, err)
	}
	got.Status = want.Status
	got, err = e.Client.CoreV1().Nodes().UpdateStatus(e.Ctx, got, metav1.UpdateOptions{})
	if err != nil {
		e.T.Fatalf("setting status of node %s: %v", spec.Name, err)
	}
	return got
}

// CreateNodes creates count nodes named prefix-<i> from spec.
func (e *Env) CreateNodes(prefix string, count int, spec NodeSpec) []string {
	e.T.Helper()
	names := make([]string, count)
	for i := range count {
		spec.Name = fmt.Sprintf("%s-%d", prefix, i)
		names[i] = spec.Name
		e.CreateNode(spec)
	}
	return names
}

// GPURequests returns requests = limits of n GPUs.
func GPURequests(n int64) corev1.ResourceRequirements {
	q := *resource.NewQuantity(n, resource.DecimalSI)
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{GPUResource: q},
		Limits:   corev1.ResourceList{GPUResource: q},
	}
}

// GPUPod is a Pod for gpu-scheduler with one container requesting gpus GPUs (none if 0).
func GPUPod(namespace, name string, gpus int64) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: corev1.PodSpec{
			SchedulerName: SchedulerName,
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name:  "main",
				Image: "registry.invalid/cuda:12",
			}},
		},
	}
	if gpus > 0 {
		p.Spec.Containers[0].Resources = GPURequests(gpus)
	}
	return p
}

// SharePod is a Pod for gpu-scheduler asking for a share of one GPU (gpu-fraction).
func SharePod(namespace, name, fraction string) *corev1.Pod {
	p := GPUPod(namespace, name, 0)
	p.Annotations = map[string]string{FractionAnnotation: fraction}
	return p
}

// LoadPod reads a Pod manifest (e.g. manifests/examples/gpu-pod.yaml) and puts it in namespace.
func (e *Env) LoadPod(rel, namespace string) *corev1.Pod {
	e.T.Helper()
	data, err := os.ReadFile(e.Path(rel))
	if err != nil {
		e.T.Fatal(err)
	}
	var p corev1.Pod
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		e.T.Fatalf("decoding %s: %v", rel, err)
	}
	if p.Kind != "Pod" {
		e.T.Fatalf("%s: kind %q, want Pod", rel, p.Kind)
	}
	p.Namespace = namespace
	return &p
}

// CreatePod creates the Pod.
func (e *Env) CreatePod(p *corev1.Pod) *corev1.Pod {
	e.T.Helper()
	got, err := e.Client.CoreV1().Pods(p.Namespace).Create(e.Ctx, p, metav1.CreateOptions{})
	if err != nil {
		e.T.Fatalf("creating pod %s/%s: %v", p.Namespace, p.Name, err)
	}
	return got
}

// CreatePods creates the Pods with workers goroutines.
func (e *Env) CreatePods(pods []*corev1.Pod, workers int) {
	e.T.Helper()
	start := time.Now()
	ch := make(chan *corev1.Pod)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range ch {
				ctx, cancel := context.WithTimeout(e.Ctx, 30*time.Second)
				_, err := e.Client.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{})
				cancel()
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("creating pod %s/%s: %w", p.Namespace, p.Name, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, p := range pods {
		ch <- p
	}
	close(ch)
	wg.Wait()
	if first != nil {
		e.T.Fatal(first)
	}
	e.T.Logf("created %d pods in %v", len(pods), time.Since(start).Round(time.Millisecond))
}
