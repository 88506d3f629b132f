package util

import (
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
)

// GPUDriver is the driver name of NVIDIA's DRA driver for GPUs, and of the DeviceClass it installs.
const GPUDriver = gpu.NVIDIADriver

// CreateGPUDeviceClass creates the DeviceClass NVIDIA's DRA driver installs: it selects the driver's
// devices of type gpu and maps the extended resource nvidia.com/gpu to them.
func (e *Env) CreateGPUDeviceClass() {
	e.T.Helper()
	class := gpu.NVIDIAGPUClass()
	class.UID, class.ResourceVersion = "", ""
	if _, err := e.Client.ResourceV1().DeviceClasses().Create(e.Ctx, class, metav1.CreateOptions{}); err != nil {
		e.T.Fatalf("creating DeviceClass %s: %v", class.Name, err)
	}
}

// PublishGPUs creates the node's ResourceSlice as NVIDIA's DRA driver publishes it: one pool named
// after the node, devices gpu-0..n-1 of type gpu with productName, uuid, index and memory.
func (e *Env) PublishGPUs(node, model string, n int) {
	e.T.Helper()
	slice := gpu.NVIDIAGPUSlice(node, model, n)
	slice.UID, slice.ResourceVersion = "", ""
	if _, err := e.Client.ResourceV1().ResourceSlices().Create(e.Ctx, slice, metav1.CreateOptions{}); err != nil {
		e.T.Fatalf("publishing %d GPUs of node %s: %v", n, node, err)
	}
}

// draAccounting reads, from the API, the GPU devices each node's ResourceSlices publish and the
// devices that ResourceClaims hold per node; a device held by two claims is a problem.
func (e *Env) draAccounting() (published, held map[string]int64, problems []string) {
	e.T.Helper()
	slices, err := e.Client.ResourceV1().ResourceSlices().List(e.Ctx, metav1.ListOptions{})
	if err != nil {
		e.T.Fatal(err)
	}
	published, held = map[string]int64{}, map[string]int64{}
	nodeOfPool := map[string]string{}
	for _, s := range slices.Items {
		if s.Spec.Driver != GPUDriver || s.Spec.NodeName == nil {
			continue
		}
		published[*s.Spec.NodeName] += int64(len(s.Spec.Devices))
		nodeOfPool[s.Spec.Pool.Name] = *s.Spec.NodeName
	}
	claims, err := e.Client.ResourceV1().ResourceClaims("").List(e.Ctx, metav1.ListOptions{})
	if err != nil {
		e.T.Fatal(err)
	}
	holder := map[string]string{}
	for _, c := range claims.Items {
		if c.Status.Allocation == nil {
			continue
		}
		for _, r := range c.Status.Allocation.Devices.Results {
			id := r.Driver + "/" + r.Pool + "/" + r.Device
			if other, ok := holder[id]; ok {
				problems = append(problems, fmt.Sprintf("device %s allocated to claims %s and %s/%s", id, other, c.Namespace, c.Name))
				continue
			}
			holder[id] = c.Namespace + "/" + c.Name
			if r.Driver == GPUDriver {
				held[nodeOfPool[r.Pool]]++
			}
		}
	}
	sort.Strings(problems)
	return published, held, problems
}
