package gpu

import (
	v1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"
	fwk "k8s.io/kube-scheduler/framework"
)

// Signature fragment keys (opportunistic batching, KEP-5598) for the parts of a Pod our plugins decide
// on. Two Pods with equal fragments get equal verdicts and scores from every plugin that signs them,
// on the same nodes in the same state; plugins that read the same part sign it under the same key
// with the same value, so the framework keeps one copy.
const (
	// DemandSignerName: the GPU demand (whole GPUs or a share), as PodDemand reads it.
	DemandSignerName = AnnotationPrefix + "v1.Pod.GPUDemand()"
	// RequestsSignerName: the effective CPU and memory requests, as kube-scheduler counts them.
	RequestsSignerName = AnnotationPrefix + "v1.Pod.CPUAndMemoryRequests()"
	// annotationSignerPrefix, completed by an annotation key: that annotation's raw value.
	annotationSignerPrefix = "v1.Pod.Annotations."
)

// DemandSign is the signed form of a Demand.
type DemandSign struct {
	Whole int64 `json:"whole"`
	Share int64 `json:"share"`
}

// RequestsSign is the signed form of a Pod's effective CPU and memory requests.
type RequestsSign struct {
	MilliCPU int64 `json:"milliCPU"`
	Memory   int64 `json:"memory"`
}

// notSignable is the status of a signer declining a Pod: the Pod is scheduled without batching.
func notSignable(reason string) *fwk.Status { return fwk.NewStatus(fwk.Unschedulable, reason) }

// SignDemand returns the Pod's GPU demand and its fragment. A malformed demand is not signed:
// PreFilter rejects that Pod with the reason, and a signature would only reuse nothing. When
// declineShares is set, a share is not signed either: the GPU that holds it is picked from the
// scores of its own cycle, which a batched Pod skips.
func SignDemand(pod *v1.Pod, declineShares bool) (Demand, fwk.SignFragment, *fwk.Status) {
	d, err := PodDemand(pod)
	if err != nil {
		return Demand{}, fwk.SignFragment{}, notSignable(err.Error())
	}
	if declineShares && d.Share > 0 {
		return Demand{}, fwk.SignFragment{}, notSignable("a GPU share is placed on the GPU its own scores pick")
	}
	return d, fwk.SignFragment{Key: DemandSignerName, Value: DemandSign{Whole: d.Whole, Share: d.Share}}, nil
}

// SignRequests returns the fragment of the Pod's effective CPU and memory requests.
func SignRequests(pod *v1.Pod) fwk.SignFragment {
	reqs := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	return fwk.SignFragment{Key: RequestsSignerName, Value: RequestsSign{MilliCPU: reqs.Cpu().MilliValue(), Memory: reqs.Memory().Value()}}
}

// SignAnnotation returns the fragment of one annotation's raw value; nil when the Pod lacks it, so an
// absent annotation and an empty one sign differently, as they parse differently.
func SignAnnotation(pod *v1.Pod, key string) fwk.SignFragment {
	var value *string
	if v, ok := pod.Annotations[key]; ok {
		value = &v
	}
	return fwk.SignFragment{Key: annotationSignerPrefix + key, Value: value}
}
