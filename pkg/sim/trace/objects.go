package trace

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
)

// nodeShape is everything a node object is built from.
type nodeShape struct {
	name    string
	cpu     resource.Quantity
	memory  resource.Quantity
	gpus    int64
	maxPods int64
	labels  map[string]string // without the hostname label; may hold the model label
	taints  []v1.Taint
}

func newNode(s *nodeShape) *v1.Node {
	labels := make(map[string]string, len(s.labels)+1)
	for k, v := range s.labels {
		labels[k] = v
	}
	labels[v1.LabelHostname] = s.name
	res := v1.ResourceList{
		v1.ResourceCPU:    s.cpu.DeepCopy(),
		v1.ResourceMemory: s.memory.DeepCopy(),
		v1.ResourcePods:   *resource.NewQuantity(s.maxPods, resource.DecimalSI),
	}
	if s.gpus > 0 {
		res[gpu.ResourceName] = *resource.NewQuantity(s.gpus, resource.DecimalSI)
	}
	var taints []v1.Taint
	if len(s.taints) > 0 {
		taints = append([]v1.Taint(nil), s.taints...)
	}
	return &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: s.name, UID: nodeUID(s.name), Labels: labels},
		Spec:       v1.NodeSpec{Taints: taints},
		Status: v1.NodeStatus{
			Capacity:    res,
			Allocatable: res.DeepCopy(),
			Conditions: []v1.NodeCondition{{
				Type:   v1.NodeReady,
				Status: v1.ConditionTrue,
				Reason: "KubeletReady",
			}},
			Phase: v1.NodeRunning,
		},
	}
}

// podShape is everything a pod object is built from.
type podShape struct {
	name        string
	cpu         *resource.Quantity // nil: no request
	memory      *resource.Quantity // nil: no request
	gpus        int64              // whole GPUs; 0 with fracMilli for a share
	fracMilli   int64              // 0 < fracMilli < 1000 for a share of one GPU
	labels      map[string]string
	annotations map[string]string // without the fraction annotation
	tolerations []v1.Toleration
}

func newPod(s *podShape) *v1.Pod {
	res := v1.ResourceList{}
	if s.cpu != nil {
		res[v1.ResourceCPU] = s.cpu.DeepCopy()
	}
	if s.memory != nil {
		res[v1.ResourceMemory] = s.memory.DeepCopy()
	}
	if s.gpus > 0 {
		res[gpu.ResourceName] = *resource.NewQuantity(s.gpus, resource.DecimalSI)
	}
	var annotations map[string]string
	if len(s.annotations) > 0 || s.fracMilli > 0 {
		annotations = make(map[string]string, len(s.annotations)+1)
		for k, v := range s.annotations {
			annotations[k] = v
		}
		if s.fracMilli > 0 {
			annotations[gpu.FractionAnnotation] = gpu.FormatFraction(s.fracMilli)
		}
	}
	var labels map[string]string
	if len(s.labels) > 0 {
		labels = make(map[string]string, len(s.labels))
		for k, v := range s.labels {
			labels[k] = v
		}
	}
	var requests, limits v1.ResourceList
	if len(res) > 0 {
		requests, limits = res, res.DeepCopy()
	}
	var tolerations []v1.Toleration
	if len(s.tolerations) > 0 {
		tolerations = append([]v1.Toleration(nil), s.tolerations...)
	}
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        s.name,
			Namespace:   Namespace,
			UID:         podUID(s.name),
			Labels:      labels,
			Annotations: annotations,
		},
		Spec: v1.PodSpec{
			SchedulerName: v1.DefaultSchedulerName,
			Tolerations:   tolerations,
			Containers: []v1.Container{{
				Name: ContainerName,
				// Tagged: ImageLocality scores every node for every Pod, and would append
				// ":latest" to an untagged name each time.
				Image:     "gpu-sim/workload:latest",
				Resources: v1.ResourceRequirements{Requests: requests, Limits: limits},
			}},
		},
		Status: v1.PodStatus{Phase: v1.PodPending},
	}
}
