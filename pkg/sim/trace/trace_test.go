package trace

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
)

func TestPodGPUMilli(t *testing.T) {
	gpus := func(n string) v1.Container {
		return v1.Container{Name: "c", Resources: v1.ResourceRequirements{Limits: v1.ResourceList{gpu.ResourceName: resource.MustParse(n)}}}
	}
	tests := []struct {
		name    string
		pod     v1.Pod
		want    int64
		wantErr bool
	}{
		{"none", v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c"}}}}, 0, false},
		{"limits only", v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{gpus("2")}}}, 2000, false},
		{"two containers", v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{gpus("2"), gpus("1")}}}, 3000, false},
		{"init container larger", v1.Pod{Spec: v1.PodSpec{InitContainers: []v1.Container{gpus("4")}, Containers: []v1.Container{gpus("1")}}}, 4000, false},
		{"fraction", v1.Pod{ObjectMeta: annotated("0.3"), Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c"}}}}, 300, false},
		{"fraction and GPUs", v1.Pod{ObjectMeta: annotated("0.3"), Spec: v1.PodSpec{Containers: []v1.Container{gpus("1")}}}, 0, true},
		{"bad fraction", v1.Pod{ObjectMeta: annotated("half"), Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c"}}}}, 0, true},
		{"non-integer GPUs", v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{gpus("500m")}}}, 0, true},
	}
	for _, tt := range tests {
		got, err := PodGPUMilli(&tt.pod)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%s: %d, %v; want %d, error %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func annotated(fraction string) (m metav1.ObjectMeta) {
	m.Annotations = map[string]string{gpu.FractionAnnotation: fraction}
	return m
}
