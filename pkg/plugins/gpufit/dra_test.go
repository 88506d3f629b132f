package gpufit

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/plugintest"
)

// On a node whose GPUs are DRA devices (no nvidia.com/gpu allocatable), GPUFit counts the free
// devices of the DeviceClass that maps nvidia.com/gpu as it counts a device-plugin node's free GPUs;
// without such a class the node has no GPUs.
func TestDRAGPUs(t *testing.T) {
	draNode := plugintest.GPUNode("dra-0", "96", "768Gi", 0)
	draNode.Labels = map[string]string{}
	m := plugintest.DRAManager{Classes: plugintest.GPUClasses(gpu.NVIDIAGPUClass()),
		Slices: []*resourceapi.ResourceSlice{gpu.NVIDIAGPUSlice("dra-0", "NVIDIA-B200", 4)}, Allocated: plugintest.Allocated("dra-0", 0)}
	share := plugintest.GPUPod("s", "1", "1Gi", 0).Annotation(gpu.FractionAnnotation, "0.5").Obj()
	for _, tt := range []struct {
		name    string
		classes map[v1.ResourceName]*resourceapi.DeviceClass
		pod     *v1.Pod
		want    *fwk.Status
		signed  bool
	}{
		{name: "free devices", pod: plugintest.GPUPod("p", "1", "1Gi", 3).Obj()},
		{name: "one device too few free", pod: plugintest.GPUPod("p", "1", "1Gi", 4).Obj(), want: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonInsufficientGPUDevices)},
		{name: "more than the node has", pod: plugintest.GPUPod("p", "1", "1Gi", 8).Obj(), want: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonTooFewGPUs)},
		{name: "a share", pod: share, want: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonNoGPUForShare)},
		{name: "no class maps GPUs", classes: map[v1.ResourceName]*resourceapi.DeviceClass{}, pod: plugintest.GPUPod("p", "1", "1Gi", 1).Obj(),
			want: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonNoGPUs), signed: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := m
			if tt.classes != nil {
				m.Classes = tt.classes
			}
			fh := plugintest.DRAHandle(t, m, draNode)
			pl := &GPUFit{handle: fh, states: gpu.NodeStatesFor(context.Background(), fh)}
			if got := plugintest.Filter(t, pl, tt.pod, plugintest.NodeInfo(draNode)); !got.Equal(tt.want) {
				t.Errorf("Filter = %v, want %v", got, tt.want)
			}
			if tt.pod != share {
				// Where DRA serves GPUs the verdict rests on device allocations: not signed.
				if _, st := pl.SignPod(context.Background(), tt.pod); st.IsSuccess() != tt.signed {
					t.Errorf("SignPod = %v, signed want %v", st, tt.signed)
				}
			}
		})
	}
}

// The nearest-fit hint counts a DRA node's free devices and says the node's GPUs are DRA devices.
func TestDRAHint(t *testing.T) {
	draNode := plugintest.GPUNode("dra-0", "96", "768Gi", 0)
	draNode.Labels = map[string]string{}
	m := plugintest.DRAManager{Classes: plugintest.GPUClasses(gpu.NVIDIAGPUClass()),
		Slices: []*resourceapi.ResourceSlice{gpu.NVIDIAGPUSlice("dra-0", "NVIDIA-B200", 8)}, Allocated: plugintest.Allocated("dra-0", 0, 1, 2, 3, 4)}
	fh := plugintest.DRAHandle(t, m, draNode)
	pl := &GPUFit{handle: fh, states: gpu.NodeStatesFor(context.Background(), fh)}
	pod := plugintest.GPUPod("p", "1", "1Gi", 4).Obj()
	state := framework.NewCycleState()
	if _, st := pl.PreFilter(context.Background(), state, pod, nil); !st.IsSuccess() {
		t.Fatal(st)
	}
	statuses := framework.NewDefaultNodeToStatus()
	statuses.Set("dra-0", fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonInsufficientGPUDevices).WithPlugin(Name))
	_, st := pl.PostFilter(context.Background(), state, pod, statuses)
	if want := "largest free: 3 GPUs on dra-0 (NVIDIA-B200, DRA); the pod asks 4"; st.Message() != want {
		t.Errorf("hint %q, want %q", st.Message(), want)
	}
}
