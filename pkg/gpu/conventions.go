package gpu

import v1 "k8s.io/api/core/v1"

const (
	// ResourceName is the extended resource the NVIDIA device plugin advertises, one unit per GPU.
	ResourceName v1.ResourceName = "nvidia.com/gpu"

	// AnnotationPrefix is the domain of every Pod annotation gpu-scheduler reads.
	AnnotationPrefix = "gpu-scheduler.io/"

	// ModelAnnotation lists the GPU models a Pod accepts, separated by '|' or ',', e.g.
	// "NVIDIA-A100-SXM4-80GB|NVIDIA-H100-80GB-HBM3". Entries are matched case-insensitively and
	// exactly against the node's GPU product label (DefaultModelLabel unless configured).
	ModelAnnotation = AnnotationPrefix + "gpu-model"

	// InterconnectAnnotation names the interconnects a Pod requires, e.g. "infiniband"; a node must
	// offer every one of them.
	InterconnectAnnotation = AnnotationPrefix + "interconnect"

	// PreferredInterconnectAnnotation names interconnects a Pod would like but can run without.
	PreferredInterconnectAnnotation = AnnotationPrefix + "preferred-interconnect"

	// DefaultModelLabel is the node label NVIDIA GPU Feature Discovery writes with the GPU product name.
	DefaultModelLabel = "nvidia.com/gpu.product"

	// InterconnectLabelPrefix is the domain of the default interconnect node labels,
	// e.g. interconnect.gpu-scheduler.io/infiniband=true.
	InterconnectLabelPrefix = "interconnect.gpu-scheduler.io/"
)

// FractionAnnotation asks for a share of one GPU as a decimal fraction in (0, 1) with at most three
// decimals, e.g. "0.5". The key is KAI-Scheduler's, so Pods written for it keep their meaning here.
// A Pod with this annotation requests no nvidia.com/gpu resource.
const FractionAnnotation = "gpu-fraction"

// MilliPerGPU is one whole GPU in the thousandths that GPU shares are counted in.
const MilliPerGPU = 1000

// Topology annotations name a level of the Interconnect plugin's topologyLevels (e.g. "ib-fabric")
// that the members of a Pod's gang (its PodGroup, label scheduling.x-k8s.io/pod-group) must share
// (required) or should share (preferred).
const (
	TopologyRequiredAnnotation  = AnnotationPrefix + "topology-required"
	TopologyPreferredAnnotation = AnnotationPrefix + "topology-preferred"
)
