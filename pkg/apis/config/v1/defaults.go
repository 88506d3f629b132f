package v1

import (
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
)

// DefaultWindowSize is large enough to see rare multi-GPU shapes, small enough to follow a change.
const DefaultWindowSize int32 = 2000

// DefaultStrandedPercent counts a GPU left without its CPU or memory as half fragmented: on openb
// (seeds 42-51) 50 placed more GPUs than 0 on default, cpu250 and gpushare100 (+0.18 to +0.36) and
// kept the other two level, where 100 lost 0.16 on multigpu50 (docs/design.md). Half, too,
// because smaller Pods may still use it.
const DefaultStrandedPercent int32 = 50

// DefaultScarcityPercent prices GPU models in full: on openb gpuspec33 that placed 94.3% of GPUs
// where FGD's measure alone placed 87-88% (docs/design.md).
const DefaultScarcityPercent int32 = 100

var (
	// DefaultCPUPerGPU is about what a GPU Pod asks per GPU: openb's GPU Pods ask 10.9 cores per GPU
	// on average, and its most common GPU node (G2, like an 8-GPU p4d) has 12 per GPU. Less lets
	// CPU-only Pods strand GPUs where CPU is scarce (openb cpu250: 94.28% allocated at 2 cores,
	// 94.87% at 12; docs/design.md).
	DefaultCPUPerGPU = resource.MustParse("12")
	// DefaultMemoryPerGPU likewise: openb's GPU Pods ask 40Gi per GPU, G2 has 48Gi per GPU.
	DefaultMemoryPerGPU = resource.MustParse("48Gi")
)

// DefaultInterconnects returns the interconnects known when none are configured.
func DefaultInterconnects() []InterconnectType {
	return []InterconnectType{
		{Name: "infiniband", NodeLabels: []NodeLabel{{Key: gpu.InterconnectLabelPrefix + "infiniband", Value: "true"}}},
		{Name: "roce", NodeLabels: []NodeLabel{{Key: gpu.InterconnectLabelPrefix + "roce", Value: "true"}}},
		{Name: "nvlink", NodeLabels: []NodeLabel{
			{Key: gpu.InterconnectLabelPrefix + "nvlink", Value: "true"},
			{Key: "nvidia.com/gpu.clique"},
		}},
	}
}

// SetDefaults_GPUModelArgs sets the default node label for the GPU model.
func SetDefaults_GPUModelArgs(obj *GPUModelArgs) {
	if obj.ModelLabel == nil {
		label := gpu.DefaultModelLabel
		obj.ModelLabel = &label
	}
}

// DefaultTopologyLevels returns the topology levels known when none are configured, innermost first.
func DefaultTopologyLevels() []TopologyLevel {
	return []TopologyLevel{
		{Name: "nvlink-domain", NodeLabel: "nvidia.com/gpu.clique"},
		{Name: "ib-leaf", NodeLabel: "network.gpu-scheduler.io/ib-leaf"},
		{Name: "ib-fabric", NodeLabel: "network.gpu-scheduler.io/ib-fabric"},
		{Name: "rack", NodeLabel: "topology.gpu-scheduler.io/rack"},
		{Name: "zone", NodeLabel: "topology.kubernetes.io/zone"},
	}
}

// SetDefaults_InterconnectArgs sets the default interconnects and topology levels.
func SetDefaults_InterconnectArgs(obj *InterconnectArgs) {
	if obj.Interconnects == nil {
		obj.Interconnects = DefaultInterconnects()
	}
	if obj.TopologyLevels == nil {
		obj.TopologyLevels = DefaultTopologyLevels()
	}
}

// SetDefaults_AntiStrandingArgs sets the default CPU and memory held back per free GPU.
func SetDefaults_AntiStrandingArgs(obj *AntiStrandingArgs) {
	if obj.CPUPerGPU == nil {
		q := DefaultCPUPerGPU.DeepCopy()
		obj.CPUPerGPU = &q
	}
	if obj.MemoryPerGPU == nil {
		q := DefaultMemoryPerGPU.DeepCopy()
		obj.MemoryPerGPU = &q
	}
}

// SetDefaults_GPUFragmentationArgs sets the learning window, the model label and the weights.
func SetDefaults_GPUFragmentationArgs(obj *GPUFragmentationArgs) {
	if obj.WindowSize == nil {
		w := DefaultWindowSize
		obj.WindowSize = &w
	}
	if obj.ModelLabel == nil {
		label := gpu.DefaultModelLabel
		obj.ModelLabel = &label
	}
	if obj.StrandedPercent == nil {
		p := DefaultStrandedPercent
		obj.StrandedPercent = &p
	}
	if obj.ScarcityPercent == nil {
		p := DefaultScarcityPercent
		obj.ScarcityPercent = &p
	}
}
