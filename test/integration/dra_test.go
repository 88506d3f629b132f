package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	resourceapi "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"k8s.io/utils/ptr"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/test/integration/util"
)

// TestDRAGPUs: on a cluster whose GPU driver publishes GPUs through DRA (a DeviceClass mapping
// nvidia.com/gpu, as NVIDIA's DRA driver ships, and a ResourceSlice per node) a plain
// `nvidia.com/gpu: 2` Pod lands on the DRA node, served by DynamicResources, beside a device-plugin
// node that is full; a Pod naming its GPU model finds it in the devices' productName.
func TestDRAGPUs(t *testing.T) {
	env := util.NewEnv(t, util.EnvOptions{})
	ns := env.Namespace
	ctx := env.Ctx
	env.CreateNode(util.NodeSpec{Name: "dp-node", GPUs: 2})
	env.CreatePod(occupant(ns, "occupant", "dp-node", 2)) // the device-plugin node is full
	env.CreateNode(util.NodeSpec{Name: "dra-node"})       // no GPU Feature Discovery labels: its GPUs are DRA devices

	resource := env.Client.ResourceV1()
	class := &resourceapi.DeviceClass{
		ObjectMeta: metav1.ObjectMeta{Name: "gpu.nvidia.com"},
		Spec: resourceapi.DeviceClassSpec{
			Selectors:            []resourceapi.DeviceSelector{{CEL: &resourceapi.CELDeviceSelector{Expression: `device.driver == "gpu.nvidia.com"`}}},
			ExtendedResourceName: ptr.To(string(gpu.ResourceName)),
		},
	}
	if _, err := resource.DeviceClasses().Create(ctx, class, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var devices []resourceapi.Device
	for i := range 4 {
		devices = append(devices, resourceapi.Device{
			Name:       fmt.Sprintf("gpu-%d", i),
			Attributes: map[resourceapi.QualifiedName]resourceapi.DeviceAttribute{"productName": {StringValue: ptr.To(util.DefaultGPUModel)}},
		})
	}
	slice := &resourceapi.ResourceSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "dra-node-gpus"},
		Spec: resourceapi.ResourceSliceSpec{
			Driver:   "gpu.nvidia.com",
			NodeName: ptr.To("dra-node"),
			Pool:     resourceapi.ResourcePool{Name: "dra-node", ResourceSliceCount: 1},
			Devices:  devices,
		},
	}
	if _, err := resource.ResourceSlices().Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sched := env.StartScheduler(util.SchedulerOptions{})

	env.CreatePod(util.GPUPod(ns, "two-gpus", 2))
	if node := env.WaitPodBound(ns, "two-gpus", bindTimeout, sched); node != "dra-node" {
		t.Fatalf("two-gpus bound to %s, want dra-node (its GPUs are DRA devices; dp-node is full)", node)
	}
	// DynamicResources allocated two devices to the Pod's extended-resource claim.
	env.Wait("the Pod's extended-resource claim to hold 2 devices", 30*time.Second, func(ctx context.Context) (bool, error) {
		claims, err := resource.ResourceClaims(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range claims.Items {
			if c.Status.Allocation != nil && len(c.Status.Allocation.Devices.Results) == 2 {
				return true, nil
			}
		}
		return false, nil
	}, nil)
	if p := env.GetPod(ns, "two-gpus"); p.Status.ExtendedResourceClaimStatus == nil {
		t.Errorf("two-gpus has no extendedResourceClaimStatus: %+v", p.Status)
	}

	// A Pod that names its GPU model finds it in the devices' productName attribute.
	model := util.GPUPod(ns, "model-two-gpus", 2)
	model.Annotations = map[string]string{gpu.ModelAnnotation: util.DefaultGPUModel}
	env.CreatePod(model)
	if node := env.WaitPodBound(ns, model.Name, bindTimeout, sched); node != "dra-node" {
		t.Fatalf("%s bound to %s, want dra-node", model.Name, node)
	}

	// A share goes only to device-plugin GPUs (dp-node's are held whole): DRA allocates devices whole.
	env.CreatePod(util.SharePod(ns, "half", "0.5"))
	env.WaitFailedScheduling(ns, "half", "1 node(s) have no GPU a share can use (DRA devices are allocated whole)", eventTimeout, sched)
}
