package config

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// GPUModelArgs configures the GPUModel plugin.
type GPUModelArgs struct {
	metav1.TypeMeta

	// ModelLabel is the node label whose value names the node's GPU model.
	ModelLabel string
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// InterconnectArgs configures the Interconnect plugin.
type InterconnectArgs struct {
	metav1.TypeMeta

	// Interconnects are the premium interconnects Pods may ask for, and how nodes show they have them.
	Interconnects []InterconnectType
	// TopologyLevels are the network domains gangs are kept inside, innermost first.
	TopologyLevels []TopologyLevel
}

// TopologyLevel is one level of the network topology: nodes with the same value of NodeLabel share a
// domain at that level.
type TopologyLevel struct {
	Name      string
	NodeLabel string
}

// InterconnectType is one interconnect, such as InfiniBand, and the node labels that reveal it.
type InterconnectType struct {
	// Name is what Pods write in their interconnect annotations, lower case, e.g. "infiniband".
	Name string
	// NodeLabels: a node has this interconnect when any of them matches.
	NodeLabels []NodeLabel
}

// NodeLabel matches a node label by key, and by value unless Value is empty.
type NodeLabel struct {
	Key   string
	Value string
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// AntiStrandingArgs configures the AntiStranding plugin.
type AntiStrandingArgs struct {
	metav1.TypeMeta

	// CPUPerGPU is the CPU held back for GPU Pods per free GPU on a GPU node.
	CPUPerGPU resource.Quantity
	// MemoryPerGPU is the memory held back for GPU Pods per free GPU on a GPU node.
	MemoryPerGPU resource.Quantity
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// GPUFragmentationArgs configures the GPUFragmentation plugin.
type GPUFragmentationArgs struct {
	metav1.TypeMeta

	// WindowSize is how many recent Pods the workload's shape distribution is learned from.
	WindowSize int32
	// Workload, when set, is the shape distribution to use instead of a learned one.
	Workload []WorkloadShape
	// ModelLabel is the node label whose value names the node's GPU model.
	ModelLabel string
	// StrandedPercent is how much of a GPU counts as fragmented, for a shape, when the node's CPU or
	// memory left cannot feed it though the node's own per-GPU share would; 0 is FGD as published.
	StrandedPercent int32
	// ScarcityPercent is how much of a GPU model's price (the pressure of the shapes limited to it)
	// a placement on that model pays; 0 is FGD as published.
	ScarcityPercent int32
}

// WorkloadShape is one kind of Pod and its share of the workload.
type WorkloadShape struct {
	CPU    resource.Quantity
	Memory resource.Quantity
	// GPUs is whole GPUs; GPUFraction a share of one GPU ("0.5"); at most one of them is set.
	GPUs        int64
	GPUFraction string
	// Models the Pod accepts; empty means any.
	Models []string
	Weight int32
}
