package gpufit

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"

	"k8s.io/utils/ptr"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/plugintest"
)

// On a node whose GPUs are DRA devices (no nvidia.com/gpu allocatable) GPUFit leaves whole GPUs to
// DynamicResources when a DeviceClass maps nvidia.com/gpu; without one, the node has no GPUs.
func TestDRAMappedGPUs(t *testing.T) {
	gpuClass := &resourceapi.DeviceClass{Spec: resourceapi.DeviceClassSpec{ExtendedResourceName: ptr.To(string(gpu.ResourceName))}}
	draNode := plugintest.GPUNode("dra-0", "96", "768Gi", 0)
	pod := plugintest.GPUPod("p", "1", "1Gi", 2).Obj()
	for _, tt := range []struct {
		name    string
		classes map[v1.ResourceName]*resourceapi.DeviceClass
		want    *fwk.Status
		signed  bool
	}{
		{name: "mapped", classes: map[v1.ResourceName]*resourceapi.DeviceClass{gpu.ResourceName: gpuClass}},
		{name: "not mapped", want: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonNoGPUs), signed: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fh, err := frameworkruntime.NewFramework(context.Background(), nil, nil,
				frameworkruntime.WithSharedDRAManager(plugintest.DRAManager{Classes: tt.classes}),
				frameworkruntime.WithSnapshotSharedLister(cache.NewSnapshot(nil, []*v1.Node{draNode})))
			if err != nil {
				t.Fatal(err)
			}
			pl := &GPUFit{handle: fh}
			if got := plugintest.Filter(t, pl, pod, plugintest.NodeInfo(draNode)); !got.Equal(tt.want) {
				t.Errorf("Filter = %v, want %v", got, tt.want)
			}
			if _, st := pl.SignPod(context.Background(), pod); st.IsSuccess() != tt.signed {
				t.Errorf("SignPod = %v, signed want %v", st, tt.signed)
			}
			// A share never goes to a DRA node: DRA allocates devices whole.
			wantShare := fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonNoGPUs)
			if !tt.signed {
				wantShare = fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonNoGPUForShare)
			}
			share := plugintest.GPUPod("s", "1", "1Gi", 0).Annotation(gpu.FractionAnnotation, "0.5").Obj()
			if got := plugintest.Filter(t, pl, share, plugintest.NodeInfo(draNode)); !got.Equal(wantShare) {
				t.Errorf("Filter of a share = %v, want %v", got, wantShare)
			}
			// No nearest-fit hint where GPUs may be DRA devices: this accounting does not see them.
			state := framework.NewCycleState()
			if _, st := pl.PreFilter(context.Background(), state, pod, nil); !st.IsSuccess() {
				t.Fatal(st)
			}
			statuses := framework.NewDefaultNodeToStatus()
			statuses.Set("dra-0", fwk.NewStatus(fwk.Unschedulable, "x").WithPlugin("DynamicResources"))
			if _, st := pl.PostFilter(context.Background(), state, pod, statuses); (st.Message() == "") != !tt.signed {
				t.Errorf("PostFilter hint %q (mapped: %v)", st.Message(), !tt.signed)
			}
			// A device-plugin node is GPUFit's either way.
			full := plugintest.NodeInfo(plugintest.GPUNode("dp-0", "96", "768Gi", 1))
			if got := plugintest.Filter(t, pl, pod, full); got.Code() != fwk.UnschedulableAndUnresolvable {
				t.Errorf("Filter on a 1-GPU device-plugin node = %v, want too few GPUs", got)
			}
		})
	}
}
