package gpu

import (
	resourceapi "k8s.io/api/resource/v1"
	fwk "k8s.io/kube-scheduler/framework"
)

// DRAServesGPUs reports whether a DeviceClass maps nvidia.com/gpu (DRAExtendedResource, KEP-5004):
// then a node without allocatable GPUs may have GPUs as DRA devices, which DynamicResources
// allocates to plain nvidia.com/gpu requests.
func DRAServesGPUs(h fwk.Handle) bool {
	if h == nil || h.SharedDRAManager() == nil {
		return false
	}
	resolver := h.SharedDRAManager().DeviceClassResolver()
	return resolver != nil && resolver.GetDeviceClass(ResourceName) != nil
}

// ProductNameAttribute is the device attribute that NVIDIA's DRA driver publishes a GPU's product
// under, as GPU Feature Discovery's node label does (e.g. NVIDIA-H100-80GB-HBM3).
const ProductNameAttribute = "productName"

// DRAModels maps each node to the GPU product its ResourceSlices publish: the productName attribute
// (bare, or qualified by the driver's name) of the first device that has one. It is read for nodes
// without a model label, whose GPUs are DRA devices.
func DRAModels(slices []*resourceapi.ResourceSlice) map[string]string {
	out := map[string]string{}
	for _, s := range slices {
		if s.Spec.NodeName == nil {
			continue
		}
		node := *s.Spec.NodeName
		if _, ok := out[node]; ok {
			continue
		}
		qualified := resourceapi.QualifiedName(s.Spec.Driver + "/" + ProductNameAttribute)
		for _, d := range s.Spec.Devices {
			if v := stringAttribute(d.Attributes, ProductNameAttribute, qualified); v != "" {
				out[node] = v
				break
			}
		}
	}
	return out
}

func stringAttribute(attrs map[resourceapi.QualifiedName]resourceapi.DeviceAttribute, names ...resourceapi.QualifiedName) string {
	for _, n := range names {
		if a, ok := attrs[n]; ok && a.StringValue != nil {
			return *a.StringValue
		}
	}
	return ""
}
