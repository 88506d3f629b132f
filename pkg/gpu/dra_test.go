package gpu_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/utils/ptr"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/plugintest"
)

// The inventory counts the devices the GPU DeviceClass's CEL selectors accept, per node, and how
// many of them claims hold; it takes each node's model from productName.
func TestDRAReader(t *testing.T) {
	class := gpu.NVIDIAGPUClass()
	a := gpu.NVIDIAGPUSlice("a", "NVIDIA-H100-80GB-HBM3", 4)
	// A device of another type in the same slice (a MIG device, say) is not a GPU of the class.
	a.Spec.Devices = append(a.Spec.Devices, resourceapi.Device{Name: "mig-0", Attributes: map[resourceapi.QualifiedName]resourceapi.DeviceAttribute{
		"type": {StringValue: ptr.To("mig")}}})
	b := gpu.NVIDIAGPUSlice("b", "", 8)
	for i := range b.Spec.Devices { // the model under its qualified name on one device only
		delete(b.Spec.Devices[i].Attributes, gpu.ProductNameAttribute)
	}
	b.Spec.Devices[5].Attributes["gpu.nvidia.com/"+gpu.ProductNameAttribute] = resourceapi.DeviceAttribute{StringValue: ptr.To("Tesla-T4")}
	nic := gpu.NVIDIAGPUSlice("a-nic", "", 2) // another driver's devices on node a
	nic.Spec.Driver, nic.Spec.NodeName = "rdma.example.com", ptr.To("a")
	network := gpu.NVIDIAGPUSlice("fabric", "x", 2) // not one node's: not counted
	network.Spec.NodeName, network.Spec.AllNodes = nil, ptr.To(true)

	allocated := append(plugintest.Allocated("a", 0, 1), plugintest.Allocated("b", 3)...)
	allocated = append(allocated, plugintest.Allocated("elsewhere", 0)...)
	m := plugintest.DRAManager{Classes: plugintest.GPUClasses(class), Slices: []*resourceapi.ResourceSlice{a, b, nic, network}, Allocated: allocated}
	var r gpu.DRAReader
	inv, err := r.Read(context.Background(), plugintest.DRAHandle(t, m))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		node               string
		devices, allocated int64
		model              string
		ok                 bool
	}{
		{"a", 4, 2, "NVIDIA-H100-80GB-HBM3", true},
		{"b", 8, 1, "Tesla-T4", true},
		{"fabric", 0, 0, "", false},
		{"elsewhere", 0, 0, "", false},
	} {
		n, alloc, ok := inv.Node(tt.node)
		if n.Devices != tt.devices || alloc != tt.allocated || n.Model != tt.model || ok != tt.ok {
			t.Errorf("node %s: %d devices, %d allocated, model %q, ok %v; want %d, %d, %q, %v",
				tt.node, n.Devices, alloc, n.Model, ok, tt.devices, tt.allocated, tt.model, tt.ok)
		}
	}

	// Unchanged slices are not matched again; a changed, an added and a removed one are.
	b2 := gpu.NVIDIAGPUSlice("b", "Tesla-T4", 2)
	b2.ResourceVersion = "2"
	c := gpu.NVIDIAGPUSlice("c", "NVIDIA-L4", 1)
	m.Slices = []*resourceapi.ResourceSlice{b2, c}
	inv, err = r.Read(context.Background(), plugintest.DRAHandle(t, m))
	if err != nil {
		t.Fatal(err)
	}
	if n, alloc, _ := inv.Node("b"); n.Devices != 2 || alloc != 0 { // its allocated gpu-3 is gone
		t.Errorf("b after its slice shrank: %d devices, %d allocated; want 2, 0", n.Devices, alloc)
	}
	if n, _, _ := inv.Node("c"); n.Devices != 1 || n.Model != "NVIDIA-L4" {
		t.Errorf("c, added: %+v", n)
	}
	if _, _, ok := inv.Node("a"); ok {
		t.Error("a's slice was removed, yet a has DRA GPUs")
	}

	// Without a DeviceClass mapping nvidia.com/gpu there is no inventory.
	m.Classes = nil
	if inv, err := r.Read(context.Background(), plugintest.DRAHandle(t, m)); inv != nil || err != nil {
		t.Errorf("no GPU class: inventory %v, error %v; want none", inv, err)
	}
	// A selector that does not compile is an error naming the class.
	bad := gpu.NVIDIAGPUClass()
	bad.ResourceVersion = "2"
	bad.Spec.Selectors[0].CEL.Expression = "device.driver =="
	m.Classes = plugintest.GPUClasses(bad)
	if _, err := r.Read(context.Background(), plugintest.DRAHandle(t, m)); err == nil || !strings.Contains(err.Error(), "DeviceClass gpu.nvidia.com") {
		t.Errorf("bad selector: error %v, want one naming the DeviceClass", err)
	}
}

// A cycle costs no new maps while the slices stand still.
func TestDRAReaderKeepsMatches(t *testing.T) {
	m := plugintest.DRAManager{Classes: plugintest.GPUClasses(gpu.NVIDIAGPUClass()),
		Slices: []*resourceapi.ResourceSlice{gpu.NVIDIAGPUSlice("a", "x", 8), gpu.NVIDIAGPUSlice("b", "x", 8)}}
	h := plugintest.DRAHandle(t, m)
	var r gpu.DRAReader
	first, err := r.Read(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	second, err := r.Read(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.ValueOf(first).Elem().FieldByName("nodes").Pointer() != reflect.ValueOf(second).Elem().FieldByName("nodes").Pointer() {
		t.Error("the node map was rebuilt though no slice changed")
	}
}

// A DRA node's state in the View: its devices are its GPUs, the allocated ones held whole, and no
// GPU takes a share; a device-plugin node beside it is as the device plugin says.
func TestViewOfDRANode(t *testing.T) {
	m := plugintest.DRAManager{Classes: plugintest.GPUClasses(gpu.NVIDIAGPUClass()),
		Slices: []*resourceapi.ResourceSlice{gpu.NVIDIAGPUSlice("dra-0", "NVIDIA-B200", 8)}, Allocated: plugintest.Allocated("dra-0", 0, 1, 2)}
	h := plugintest.DRAHandle(t, m)
	states := gpu.NodeStatesFor(context.Background(), h)
	cycle := framework.NewCycleState()
	view, err := states.View(context.Background(), cycle, h)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := states.View(context.Background(), cycle, h); again != view {
		t.Error("a second plugin in the cycle got another View")
	}
	draNode := plugintest.GPUNode("dra-0", "96", "768Gi", 0)
	draNode.Labels = map[string]string{}
	ni := plugintest.NodeInfo(draNode, plugintest.GPUPod("p", "4", "16Gi", 3).Node("dra-0").Obj())
	s := view.Of(ni)
	if !s.DRA || s.Allocatable != 8 || s.WholeUsed != 3 || s.FreeWhole() != 5 || s.MilliCPUPerGPU != 12000 {
		t.Errorf("DRA node state %+v: want 8 GPUs, 3 held, 12 CPUs per GPU", *s)
	}
	if s.Fits(gpu.Demand{Share: 500}) || s.LargestFreeShare() != 0 {
		t.Error("a share fits a DRA node")
	}
	if !s.Fits(gpu.Demand{Whole: 5}) || s.Fits(gpu.Demand{Whole: 6}) {
		t.Error("a DRA node with 5 free devices should fit 5 GPUs and not 6")
	}
	if got, _ := view.Model(ni, gpu.DefaultModelLabel); got != "NVIDIA-B200" {
		t.Errorf("model %q, want the devices' productName", got)
	}
	if view.Of(ni) != s {
		t.Error("the same node in the same state was derived again")
	}
	dp := plugintest.NodeInfo(plugintest.GPUNode("dp-0", "96", "768Gi", 8))
	if s := view.Of(dp); s.DRA || s.Allocatable != 8 {
		t.Errorf("device-plugin node state %+v", *s)
	}

	// One more device allocated, to a Pod placed there: the next cycle sees it. While the node's
	// Pods stay the same, its state stays cached.
	m.Allocated = plugintest.Allocated("dra-0", 0, 1, 2, 3)
	h = plugintest.DRAHandle(t, m)
	view, err = states.View(context.Background(), framework.NewCycleState(), h)
	if err != nil {
		t.Fatal(err)
	}
	if view.Of(ni) != s {
		t.Error("a node whose Pods and slices did not change was derived again")
	}
	ni = plugintest.NodeInfo(draNode, plugintest.GPUPod("p", "4", "16Gi", 3).Node("dra-0").Obj(), plugintest.GPUPod("q", "1", "1Gi", 1).Node("dra-0").Obj())
	if s := view.Of(ni); s.WholeUsed != 4 {
		t.Errorf("after a fourth allocation: %d held, want 4", s.WholeUsed)
	}
	// Pod q leaves (a new NodeInfo) while its claim still holds a device; then the claim is
	// deallocated, which changes no NodeInfo: the next cycle sees the device free all the same.
	ni = plugintest.NodeInfo(draNode, plugintest.GPUPod("p", "4", "16Gi", 3).Node("dra-0").Obj())
	view, _ = states.View(context.Background(), framework.NewCycleState(), h)
	if s := view.Of(ni); s.WholeUsed != 4 {
		t.Errorf("q gone, its claim still allocated: %d held, want 4", s.WholeUsed)
	}
	m.Allocated = plugintest.Allocated("dra-0", 0, 1, 2)
	h = plugintest.DRAHandle(t, m)
	view, _ = states.View(context.Background(), framework.NewCycleState(), h)
	if s := view.Of(ni); s.WholeUsed != 3 {
		t.Errorf("q's claim deallocated: %d held, want 3", s.WholeUsed)
	}
}

// A Pod's ResourceClaims add the devices they ask of the GPU DeviceClass to its demand: an exact
// count, the first of alternatives; not another class's devices, nor "all", nor a claim not yet made.
func TestViewDemand(t *testing.T) {
	class := gpu.NVIDIAGPUClass()
	firstAvailable := plugintest.GPUClaim("default", "either", class.Name, 0)
	firstAvailable.Spec.Devices.Requests[0].Exactly = nil
	firstAvailable.Spec.Devices.Requests[0].FirstAvailable = []resourceapi.DeviceSubRequest{
		{Name: "big", DeviceClassName: class.Name, AllocationMode: resourceapi.DeviceAllocationModeExactCount, Count: 4},
		{Name: "small", DeviceClassName: class.Name, AllocationMode: resourceapi.DeviceAllocationModeExactCount, Count: 1},
	}
	all := plugintest.GPUClaim("default", "all", class.Name, 0)
	all.Spec.Devices.Requests[0].Exactly.AllocationMode = resourceapi.DeviceAllocationModeAll
	allocated := plugintest.GPUClaim("default", "allocated", class.Name, 2)
	allocated.Status.Allocation = &resourceapi.AllocationResult{}
	m := plugintest.DRAManager{Classes: plugintest.GPUClasses(class), Claims: []*resourceapi.ResourceClaim{
		plugintest.GPUClaim("default", "four", class.Name, 4), plugintest.GPUClaim("default", "nics", "rdma.example.com", 2),
		plugintest.GPUClaim("default", "generated-abc", class.Name, 2), firstAvailable, all, allocated,
	}}
	h := plugintest.DRAHandle(t, m)
	view, err := gpu.NodeStatesFor(context.Background(), h).View(context.Background(), nil, h)
	if err != nil {
		t.Fatal(err)
	}
	claims := func(names ...string) []corev1.PodResourceClaim {
		var out []corev1.PodResourceClaim
		for _, n := range names {
			out = append(out, corev1.PodResourceClaim{Name: "c-" + n, ResourceClaimName: ptr.To(n)})
		}
		return out
	}
	generated := plugintest.GPUPod("templated", "1", "1Gi", 0).Obj()
	generated.Spec.ResourceClaims = []corev1.PodResourceClaim{{Name: "gpus", ResourceClaimTemplateName: ptr.To("two-gpus")}}
	generated.Status.ResourceClaimStatuses = []corev1.PodResourceClaimStatus{{Name: "gpus", ResourceClaimName: ptr.To("generated-abc")}}
	share := plugintest.GPUPod("share", "1", "1Gi", 0).Annotation(gpu.FractionAnnotation, "0.5").Obj()
	share.Spec.ResourceClaims = claims("four")
	for _, tt := range []struct {
		name string
		pod  *corev1.Pod
		want gpu.Demand
	}{
		{"a claim for 4 GPUs", withClaims(plugintest.GPUPod("p", "1", "1Gi", 0).Obj(), claims("four")), gpu.Demand{Whole: 4}},
		{"plus a request of 1", withClaims(plugintest.GPUPod("p", "1", "1Gi", 1).Obj(), claims("four")), gpu.Demand{Whole: 5}},
		{"another class", withClaims(plugintest.GPUPod("p", "1", "1Gi", 0).Obj(), claims("nics")), gpu.Demand{}},
		{"all devices", withClaims(plugintest.GPUPod("p", "1", "1Gi", 0).Obj(), claims("all")), gpu.Demand{}},
		{"first of alternatives", withClaims(plugintest.GPUPod("p", "1", "1Gi", 0).Obj(), claims("either")), gpu.Demand{Whole: 4}},
		{"not created yet", withClaims(plugintest.GPUPod("p", "1", "1Gi", 0).Obj(), claims("missing")), gpu.Demand{}},
		{"allocated already (its devices count as allocated)", withClaims(plugintest.GPUPod("p", "1", "1Gi", 0).Obj(), claims("allocated")), gpu.Demand{}},
		{"from a template", generated, gpu.Demand{Whole: 2}},
	} {
		got, err := view.Demand(tt.pod)
		if err != nil || got != tt.want {
			t.Errorf("%s: demand %+v (%v), want %+v", tt.name, got, err, tt.want)
		}
	}
	if _, err := view.Demand(share); err == nil || !strings.Contains(err.Error(), "beside 4 GPUs from ResourceClaims") {
		t.Errorf("a share beside a GPU claim: error %v", err)
	}
	// Without a DeviceClass mapping nvidia.com/gpu, claims ask no GPUs.
	m.Classes = nil
	h = plugintest.DRAHandle(t, m)
	view, _ = gpu.NodeStatesFor(context.Background(), h).View(context.Background(), nil, h)
	if got, _ := view.Demand(withClaims(plugintest.GPUPod("p", "1", "1Gi", 0).Obj(), claims("four"))); !got.None() {
		t.Errorf("no GPU class: demand %+v, want none", got)
	}
}

func withClaims(p *corev1.Pod, claims []corev1.PodResourceClaim) *corev1.Pod {
	p.Spec.ResourceClaims = claims
	return p
}

// BenchmarkDRAReader is one scheduling cycle's read of the DRA inventory (View) on a 5,000-node
// cluster whose 3,750 GPU nodes all publish their GPUs through DRA, slices unchanged since the last
// cycle: what a cycle pays once, before Filter runs per node.
func BenchmarkDRAReader(b *testing.B) {
	m := plugintest.DRAManager{Classes: plugintest.GPUClasses(gpu.NVIDIAGPUClass())}
	for _, ni := range plugintest.Cluster(5000) {
		if _, slice, allocated := plugintest.DRATwin(ni); slice != nil {
			m.Slices, m.Allocated = append(m.Slices, slice), append(m.Allocated, allocated...)
		}
	}
	fh := plugintest.DRAHandle(b, m)
	var r gpu.DRAReader
	if _, err := r.Read(context.Background(), fh); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Read(context.Background(), fh); err != nil {
			b.Fatal(err)
		}
	}
}
