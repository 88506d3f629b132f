package v1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// GPUModelArgs configures the GPUModel plugin.
type GPUModelArgs struct {
	metav1.TypeMeta `json:",inline"`

	// ModelLabel is the node label whose value names the node's GPU model.
	// Default: nvidia.com/gpu.product, as NVIDIA GPU Feature Discovery writes it.
	ModelLabel *string `json:"modelLabel,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// InterconnectArgs configures the Interconnect plugin.
type InterconnectArgs struct {
	metav1.TypeMeta `json:",inline"`

	// Interconnects are the premium interconnects Pods may ask for, and how nodes show they have them.
	// Default: infiniband, roce and nvlink, each revealed by interconnect.gpu-scheduler.io/<name>=true;
	// nvlink also by NVIDIA GPU Feature Discovery's nvidia.com/gpu.clique label.
	Interconnects []InterconnectType `json:"interconnects,omitempty"`
	// TopologyLevels are the network domains the members of a gang (a PodGroup) are kept inside,
	// innermost first. Default: nvlink-domain (nvidia.com/gpu.clique), ib-leaf
	// (network.gpu-scheduler.io/ib-leaf), ib-fabric (network.gpu-scheduler.io/ib-fabric), rack
	// (topology.gpu-scheduler.io/rack), zone (topology.kubernetes.io/zone).
	TopologyLevels []TopologyLevel `json:"topologyLevels,omitempty"`
}

// TopologyLevel is one level of the network topology: nodes with the same value of NodeLabel share a
// domain at that level.
type TopologyLevel struct {
	// Name is what Pods write in their topology annotations, lower case, e.g. "ib-fabric".
	Name string `json:"name"`
	// NodeLabel is the node label whose value names the node's domain at this level.
	NodeLabel string `json:"nodeLabel"`
}

// InterconnectType is one interconnect, such as InfiniBand, and the node labels that reveal it.
type InterconnectType struct {
	// Name is what Pods write in their interconnect annotations, lower case, e.g. "infiniband".
	Name string `json:"name"`
	// NodeLabels: a node has this interconnect when any of them matches.
	NodeLabels []NodeLabel `json:"nodeLabels"`
}

// NodeLabel matches a node label by key, and by value unless Value is empty.
type NodeLabel struct {
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// AntiStrandingArgs configures the AntiStranding plugin.
type AntiStrandingArgs struct {
	metav1.TypeMeta `json:",inline"`

	// CPUPerGPU is the CPU held back for GPU Pods per free GPU on a GPU node, at most the node's
	// allocatable CPU per GPU. Default: 12.
	CPUPerGPU *resource.Quantity `json:"cpuPerGPU,omitempty"`
	// MemoryPerGPU is the memory held back for GPU Pods per free GPU on a GPU node, at most the
	// node's allocatable memory per GPU. Default: 48Gi.
	MemoryPerGPU *resource.Quantity `json:"memoryPerGPU,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// GPUFragmentationArgs configures the GPUFragmentation plugin.
type GPUFragmentationArgs struct {
	metav1.TypeMeta `json:",inline"`

	// WindowSize is how many recent Pods (distinct, by UID) the workload's shape distribution is
	// learned from. Default: 2000.
	WindowSize *int32 `json:"windowSize,omitempty"`
	// Workload, when set, is the shape distribution to score against instead of a learned one.
	Workload []WorkloadShape `json:"workload,omitempty"`
	// ModelLabel is the node label whose value names the node's GPU model, for shapes that accept
	// only some models. Default: nvidia.com/gpu.product.
	ModelLabel *string `json:"modelLabel,omitempty"`
	// StrandedPercent is how much of a GPU counts as fragmented, for a Pod shape, when the CPU or
	// memory the node has left cannot feed it although the node's own CPU and memory per GPU would
	// (other Pods took more than their GPUs' share): 0 to 100. 0 is FGD's measure as published.
	// Default: 50.
	StrandedPercent *int32 `json:"strandedPercent,omitempty"`
	// ScarcityPercent is how much of a GPU model's price a placement on that model pays, 0 to 100:
	// when some Pod shapes accept only some models, each model is priced by how much of the demand
	// limited to it its free GPUs would have to serve, so that Pods that could go anywhere leave
	// scarce models to the Pods that cannot. 0 is FGD's measure as published. Default: 100.
	ScarcityPercent *int32 `json:"scarcityPercent,omitempty"`
}

// WorkloadShape is one kind of Pod and its share of the workload.
type WorkloadShape struct {
	CPU    resource.Quantity `json:"cpu"`
	Memory resource.Quantity `json:"memory"`
	// GPUs is whole GPUs; GPUFraction a share of one GPU ("0.5"); at most one of them is set.
	GPUs        int64  `json:"gpus,omitempty"`
	GPUFraction string `json:"gpuFraction,omitempty"`
	// Models the Pod accepts; empty means any.
	Models []string `json:"models,omitempty"`
	// Weight is the shape's relative frequency.
	Weight int32 `json:"weight"`
}
