package plugintest

import (
	"context"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/dynamic-resource-allocation/structured"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
)

// DRAManager is the part of the scheduler's DRA manager the plugins read: DeviceClasses by the
// extended resource they map (DRAExtendedResource), the ResourceSlices and the allocated devices.
type DRAManager struct {
	fwk.SharedDRAManager
	Classes   map[v1.ResourceName]*resourceapi.DeviceClass
	Slices    []*resourceapi.ResourceSlice
	Allocated []structured.DeviceID
	Claims    []*resourceapi.ResourceClaim
}

// DeviceClassResolver serves Classes.
func (m DRAManager) DeviceClassResolver() fwk.DeviceClassResolver { return m }

// GetDeviceClass returns the class mapping name, or nil.
func (m DRAManager) GetDeviceClass(name v1.ResourceName) *resourceapi.DeviceClass {
	return m.Classes[name]
}

// ResourceSlices serves Slices.
func (m DRAManager) ResourceSlices() fwk.ResourceSliceLister { return m }

// ListWithDeviceTaintRules returns Slices.
func (m DRAManager) ListWithDeviceTaintRules() ([]*resourceapi.ResourceSlice, error) {
	return m.Slices, nil
}

// ResourceClaims serves Claims and Allocated.
func (m DRAManager) ResourceClaims() fwk.ResourceClaimTracker { return claimTracker{m: m} }

type claimTracker struct {
	fwk.ResourceClaimTracker
	m DRAManager
}

// ListAllAllocatedDevices returns Allocated.
func (c claimTracker) ListAllAllocatedDevices() (sets.Set[structured.DeviceID], error) {
	return sets.New(c.m.Allocated...), nil
}

// Get returns the claim of Claims with that namespace and name.
func (c claimTracker) Get(namespace, name string) (*resourceapi.ResourceClaim, error) {
	for _, claim := range c.m.Claims {
		if claim.Namespace == namespace && claim.Name == name {
			return claim, nil
		}
	}
	return nil, apierrors.NewNotFound(resourceapi.Resource("resourceclaims"), name)
}

// GPUClaim is a ResourceClaim asking for n devices of class (ExactCount).
func GPUClaim(namespace, name, class string, n int64) *resourceapi.ResourceClaim {
	return &resourceapi.ResourceClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: resourceapi.ResourceClaimSpec{Devices: resourceapi.DeviceClaim{Requests: []resourceapi.DeviceRequest{{
			Name:    "gpus",
			Exactly: &resourceapi.ExactDeviceRequest{DeviceClassName: class, AllocationMode: resourceapi.DeviceAllocationModeExactCount, Count: n},
		}}}},
	}
}

// GPUClasses maps nvidia.com/gpu to class.
func GPUClasses(class *resourceapi.DeviceClass) map[v1.ResourceName]*resourceapi.DeviceClass {
	return map[v1.ResourceName]*resourceapi.DeviceClass{gpu.ResourceName: class}
}

// Allocated names devices of node's pool (gpu.NVIDIAGPUSlice) as allocated.
func Allocated(node string, devices ...int) []structured.DeviceID {
	out := make([]structured.DeviceID, 0, len(devices))
	for _, d := range devices {
		out = append(out, structured.MakeDeviceID(gpu.NVIDIADriver, node, fmt.Sprintf("gpu-%d", d)))
	}
	return out
}

// DRATwin is a GPU node of the same shape and Pods whose GPUs a DRA driver publishes: named
// name-dra, no nvidia.com/gpu allocatable nor model label, its slice (gpu.NVIDIAGPUSlice, the model from the
// label) and as many devices allocated as its Pods hold GPUs (their extended-resource claims). A
// node without GPUs has no twin (nil).
func DRATwin(ni fwk.NodeInfo) (fwk.NodeInfo, *resourceapi.ResourceSlice, []structured.DeviceID) {
	node := ni.Node().DeepCopy()
	gpus := node.Status.Allocatable[gpu.ResourceName]
	if gpus.IsZero() {
		return nil, nil, nil
	}
	model := node.Labels[gpu.DefaultModelLabel]
	node.Name += "-dra"
	delete(node.Labels, gpu.DefaultModelLabel)
	delete(node.Status.Allocatable, gpu.ResourceName)
	delete(node.Status.Capacity, gpu.ResourceName)
	var pods []*v1.Pod
	held := 0
	for _, pi := range ni.GetPods() {
		p := pi.GetPod().DeepCopy()
		p.Name += "-dra"
		p.UID += "-dra"
		p.Spec.NodeName = node.Name
		q := p.Spec.Containers[0].Resources.Requests[gpu.ResourceName]
		held += int(q.Value())
		pods = append(pods, p)
	}
	devices := make([]int, held)
	for i := range devices {
		devices[i] = i
	}
	return NodeInfo(node, pods...), gpu.NVIDIAGPUSlice(node.Name, model, int(gpus.Value())), Allocated(node.Name, devices...)
}

// DRAHandle is a framework handle serving m as the scheduler's DRA manager, and a snapshot of nodes.
func DRAHandle(tb testing.TB, m DRAManager, nodes ...*v1.Node) fwk.Handle {
	tb.Helper()
	h, err := frameworkruntime.NewFramework(context.Background(), nil, nil, frameworkruntime.WithSharedDRAManager(m),
		frameworkruntime.WithSnapshotSharedLister(cache.NewSnapshot(nil, nodes)))
	if err != nil {
		tb.Fatal(err)
	}
	return h
}
