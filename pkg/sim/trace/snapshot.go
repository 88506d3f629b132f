package trace

import (
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	resourcehelper "k8s.io/component-helpers/resource"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/scheduler-plugins/apis/scheduling/v1alpha1"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
)

// Snapshot is a live cluster in gpu-sim's YAML formats: what scheduling reads of its Nodes and Pods
// (allocatable, labels, taints; requests, gpu-scheduler's annotations, labels, tolerations,
// creation time), and nothing else: no env, no volumes, no other annotations, no Secrets.
type Snapshot struct {
	Cluster  ClusterFile
	Workload WorkloadFile
	// GPUs are the cluster's, device plugin and DRA; HeldMilli the thousandths of them that the
	// bound Pods hold.
	GPUs, HeldMilli int64
	// Bound and Pending count the Pods written, by whether a node holds them; BoundGPU and
	// PendingGPU those asking for GPUs.
	Bound, Pending, BoundGPU, PendingGPU int
	// Skipped counts the Pods left out, by reason.
	Skipped map[string]int
	// SkippedGroups counts the PodGroups left out: a minMember below 1, or a name that, with its
	// namespace, is no label value.
	SkippedGroups int
}

// Reasons a Pod is left out of a snapshot.
const (
	SkipFinished  = "finished (Succeeded or Failed)"
	SkipBadDemand = "GPU demand the scheduler would refuse"
	SkipDeleting  = "being deleted"
)

// SnapshotOf turns a cluster's Nodes, Pods, ResourceSlices and PodGroups into gpu-sim's formats. A
// node whose allocatable has no nvidia.com/gpu but whose ResourceSlices publish devices of NVIDIA's
// DRA driver is a DRA node with that many GPUs. Pods come in creation order, createdAt in seconds
// from the first; a Pod is named <namespace>.<name>, and so is a PodGroup, which its members' label
// names likewise. A node the formats cannot hold is an error naming it; a Pod that cannot be
// replayed is skipped and counted, and so is a PodGroup (its members then belong to no gang).
func SnapshotOf(nodes []v1.Node, pods []v1.Pod, slices []resourceapi.ResourceSlice, groups []v1alpha1.PodGroup) (*Snapshot, error) {
	s := &Snapshot{Skipped: map[string]int{}}
	for i := range groups {
		g := &groups[i]
		name := g.Namespace + "." + g.Name
		if checkGroupName(name) != "" || g.Spec.MinMember < 1 {
			s.SkippedGroups++
			continue
		}
		s.Workload.PodGroups = append(s.Workload.PodGroups, PodGroupShape{Name: name, MinMember: g.Spec.MinMember})
	}
	devices, products := map[string]int64{}, map[string]string{}
	for i := range slices {
		sl := &slices[i]
		if sl.Spec.Driver != gpu.NVIDIADriver || sl.Spec.NodeName == nil {
			continue
		}
		node := *sl.Spec.NodeName
		devices[node] += int64(len(sl.Spec.Devices))
		for _, d := range sl.Spec.Devices {
			if p := d.Attributes[gpu.ProductNameAttribute].StringValue; p != nil && products[node] == "" {
				products[node] = *p
			}
		}
	}
	for i := range nodes {
		shape, err := nodeShapeOf(&nodes[i], devices, products)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", nodes[i].Name, err)
		}
		s.Cluster.Nodes = append(s.Cluster.Nodes, shape)
		s.GPUs += shape.GPUs
	}
	sorted := make([]*v1.Pod, 0, len(pods))
	for i := range pods {
		sorted = append(sorted, &pods[i])
	}
	sort.SliceStable(sorted, func(a, b int) bool {
		ta, tb := sorted[a].CreationTimestamp, sorted[b].CreationTimestamp
		if !ta.Equal(&tb) {
			return ta.Before(&tb)
		}
		return sorted[a].Namespace+"/"+sorted[a].Name < sorted[b].Namespace+"/"+sorted[b].Name
	})
	var first int64
	for _, pod := range sorted {
		switch {
		case pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed:
			s.Skipped[SkipFinished]++
			continue
		case pod.DeletionTimestamp != nil:
			s.Skipped[SkipDeleting]++
			continue
		}
		demand, err := gpu.PodDemand(pod)
		if err != nil {
			s.Skipped[SkipBadDemand]++
			continue
		}
		created := pod.CreationTimestamp.Unix()
		if len(s.Workload.Pods) == 0 {
			first = created
		}
		shape := podShapeOf(pod, demand, created-first)
		shape.Node = pod.Spec.NodeName
		if g, ok := pod.Labels[v1alpha1.PodGroupLabel]; ok && checkGroupName(pod.Namespace+"."+g) == "" {
			// In the namespace every snapshot Pod shares, as the Pod's name is. A name too long for
			// that stays as it was: its PodGroup was left out, and the Pod belongs to no gang.
			shape.Labels[v1alpha1.PodGroupLabel] = pod.Namespace + "." + g
		}
		s.Workload.Pods = append(s.Workload.Pods, shape)
		bound, asksGPU := pod.Spec.NodeName != "", !demand.None()
		switch {
		case bound:
			s.Bound++
			s.HeldMilli += demand.Milli()
		default:
			s.Pending++
		}
		if asksGPU && bound {
			s.BoundGPU++
		} else if asksGPU {
			s.PendingGPU++
		}
	}
	return s, nil
}

func nodeShapeOf(n *v1.Node, devices map[string]int64, products map[string]string) (NodeShape, error) {
	if msg := checkNodeName(n.Name); msg != "" {
		return NodeShape{}, fmt.Errorf("name: %s", msg)
	}
	alloc := n.Status.Allocatable
	shape := NodeShape{Name: n.Name, CPU: quantityString(alloc, v1.ResourceCPU), Memory: quantityString(alloc, v1.ResourceMemory)}
	if q, ok := alloc[v1.ResourcePods]; ok {
		shape.MaxPods = ptr.To(q.Value())
	}
	if q, ok := alloc[gpu.ResourceName]; ok && q.Value() > 0 {
		shape.GPUs, shape.Model = q.Value(), n.Labels[gpu.DefaultModelLabel]
	} else if d := devices[n.Name]; d > 0 {
		shape.GPUs, shape.Model, shape.DRA = d, products[n.Name], true
	}
	for k, v := range n.Labels {
		if k == v1.LabelHostname || (k == gpu.DefaultModelLabel && (shape.GPUs == 0 || shape.DRA)) {
			continue // set from the name; a model label goes with device-plugin GPUs
		}
		if shape.Labels == nil {
			shape.Labels = map[string]string{}
		}
		shape.Labels[k] = v
	}
	for _, t := range n.Spec.Taints {
		shape.Taints = append(shape.Taints, TaintShape{Key: t.Key, Value: t.Value, Effect: string(t.Effect)})
	}
	return shape, nil
}

func podShapeOf(pod *v1.Pod, demand gpu.Demand, createdAt int64) PodShape {
	requests := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	shape := PodShape{Name: pod.Namespace + "." + pod.Name, CreatedAt: ptr.To(createdAt)}
	if q, ok := requests[v1.ResourceCPU]; ok && !q.IsZero() {
		shape.CPU = q.String()
	}
	if q, ok := requests[v1.ResourceMemory]; ok && !q.IsZero() {
		shape.Memory = q.String()
	}
	if demand.Whole > 0 {
		shape.GPUs = ptr.To(demand.Whole)
	}
	for k, v := range pod.Annotations {
		// gpu-scheduler's own, as the scheduler read them (the share, models, interconnects,
		// topology); the GPU index is where the share went, an outcome.
		if (strings.HasPrefix(k, gpu.AnnotationPrefix) || k == gpu.FractionAnnotation) && k != gpu.GPUIndexAnnotation {
			if shape.Annotations == nil {
				shape.Annotations = map[string]string{}
			}
			shape.Annotations[k] = v
		}
	}
	if len(pod.Labels) > 0 {
		shape.Labels = make(map[string]string, len(pod.Labels))
		for k, v := range pod.Labels {
			shape.Labels[k] = v
		}
	}
	for _, t := range pod.Spec.Tolerations {
		shape.Tolerations = append(shape.Tolerations, TolerationShape{Key: t.Key, Operator: string(t.Operator), Value: t.Value, Effect: string(t.Effect)})
	}
	return shape
}

// quantityString is the quantity, "0" when the list lacks it.
func quantityString(l v1.ResourceList, name v1.ResourceName) string {
	q := l[name]
	return q.String()
}

func ptrTo[T any](v T) *T { return &v }
