package gpu

import (
	"fmt"

	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// NVIDIADriver is the driver name of NVIDIA's DRA driver for GPUs, and the name of the DeviceClass it
// installs.
const NVIDIADriver = "gpu.nvidia.com"

// NVIDIAGPUClass is the DeviceClass NVIDIA's DRA driver installs: it selects the driver's devices of
// type gpu and maps the extended resource nvidia.com/gpu to them. gpu-sim serves its DRA nodes'
// GPUs through it.
func NVIDIAGPUClass() *resourceapi.DeviceClass {
	return &resourceapi.DeviceClass{
		ObjectMeta: metav1.ObjectMeta{Name: NVIDIADriver, UID: "class-" + NVIDIADriver, ResourceVersion: "1"},
		Spec: resourceapi.DeviceClassSpec{
			ExtendedResourceName: ptr.To(string(ResourceName)),
			Selectors: []resourceapi.DeviceSelector{{CEL: &resourceapi.CELDeviceSelector{
				Expression: `device.driver == "` + NVIDIADriver + `" && device.attributes["` + NVIDIADriver + `"].type == "gpu"`,
			}}},
		},
	}
}

// NVIDIAGPUSlice is a node's ResourceSlice as NVIDIA's DRA driver publishes it: one pool named after
// the node, devices gpu-0.. of type gpu with productName (model, when given), uuid, index and memory.
func NVIDIAGPUSlice(node, model string, devices int) *resourceapi.ResourceSlice {
	s := &resourceapi.ResourceSlice{
		ObjectMeta: metav1.ObjectMeta{Name: node + "-" + NVIDIADriver, UID: types.UID("slice-" + node), ResourceVersion: "1"},
		Spec: resourceapi.ResourceSliceSpec{
			Driver: NVIDIADriver, NodeName: ptr.To(node),
			Pool: resourceapi.ResourcePool{Name: node, Generation: 1, ResourceSliceCount: 1},
		},
	}
	for i := range devices {
		attrs := map[resourceapi.QualifiedName]resourceapi.DeviceAttribute{
			"type":  {StringValue: ptr.To("gpu")},
			"uuid":  {StringValue: ptr.To(fmt.Sprintf("GPU-%s-%d", node, i))},
			"index": {IntValue: ptr.To(int64(i))},
		}
		if model != "" {
			attrs[ProductNameAttribute] = resourceapi.DeviceAttribute{StringValue: ptr.To(model)}
		}
		s.Spec.Devices = append(s.Spec.Devices, resourceapi.Device{
			Name: fmt.Sprintf("gpu-%d", i), Attributes: attrs,
			Capacity: map[resourceapi.QualifiedName]resourceapi.DeviceCapacity{"memory": {Value: resource.MustParse("80Gi")}},
		})
	}
	return s
}
