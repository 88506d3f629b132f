package gpu

import (
	"math"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
	fwk "k8s.io/kube-scheduler/framework"
)

// PodGPURequest returns the Pod's effective whole-GPU request, counted the way kube-scheduler counts
// requests: the larger of the sum over app containers and restartable init containers (sidecars) and
// the largest one-shot init container, plus the Pod overhead.
func PodGPURequest(pod *v1.Pod) int64 {
	reqs := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	q, ok := reqs[ResourceName]
	if !ok {
		return 0
	}
	// A request beyond int64 (the API server refuses it, a hand-made object may not) must not wrap
	// around into a small or negative count that would fit anywhere.
	if q.Cmp(maxCount) > 0 {
		return math.MaxInt64
	}
	return q.Value()
}

var maxCount = *resource.NewQuantity(math.MaxInt64, resource.DecimalSI)

// NodeGPUs returns the node's allocatable GPUs and those not requested by its assigned and assumed
// Pods. It reads integers from NodeInfo and allocates nothing, so Filter and Score can call it.
func NodeGPUs(nodeInfo fwk.NodeInfo) (allocatable, free int64) {
	allocatable = nodeInfo.GetAllocatable().GetScalarResources()[ResourceName]
	free = allocatable - nodeInfo.GetRequested().GetScalarResources()[ResourceName]
	return allocatable, free
}
