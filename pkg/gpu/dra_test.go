package gpu

import (
	"testing"

	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/utils/ptr"
)

func TestDRAModels(t *testing.T) {
	device := func(name string, attrs map[resourceapi.QualifiedName]string) resourceapi.Device {
		d := resourceapi.Device{Name: name, Attributes: map[resourceapi.QualifiedName]resourceapi.DeviceAttribute{}}
		for k, v := range attrs {
			d.Attributes[k] = resourceapi.DeviceAttribute{StringValue: ptr.To(v)}
		}
		return d
	}
	slice := func(node *string, driver string, devices ...resourceapi.Device) *resourceapi.ResourceSlice {
		return &resourceapi.ResourceSlice{Spec: resourceapi.ResourceSliceSpec{NodeName: node, Driver: driver, Devices: devices}}
	}
	got := DRAModels([]*resourceapi.ResourceSlice{
		slice(ptr.To("a"), "gpu.nvidia.com", device("gpu-0", map[resourceapi.QualifiedName]string{"productName": "NVIDIA-H100-80GB-HBM3"})),
		// The qualified name, and a device without the attribute before one with it.
		slice(ptr.To("b"), "gpu.nvidia.com", device("nic", nil), device("gpu-0", map[resourceapi.QualifiedName]string{"gpu.nvidia.com/productName": "Tesla-T4"})),
		// A second slice of a node does not replace the first one's model.
		slice(ptr.To("a"), "gpu.nvidia.com", device("gpu-1", map[resourceapi.QualifiedName]string{"productName": "other"})),
		// Network-wide slices (no node) and nodes without the attribute give nothing.
		slice(nil, "gpu.nvidia.com", device("x", map[resourceapi.QualifiedName]string{"productName": "nowhere"})),
		slice(ptr.To("c"), "gpu.nvidia.com", device("gpu-0", map[resourceapi.QualifiedName]string{"uuid": "GPU-1"})),
	})
	want := map[string]string{"a": "NVIDIA-H100-80GB-HBM3", "b": "Tesla-T4"}
	if len(got) != len(want) || got["a"] != want["a"] || got["b"] != want["b"] {
		t.Errorf("DRAModels = %v, want %v", got, want)
	}
}
