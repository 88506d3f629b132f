package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/test/integration/util"
)

// TestDRAGPUs: on a cluster whose GPU driver publishes GPUs through DRA (the DeviceClass NVIDIA's DRA
// driver installs, mapping nvidia.com/gpu, and a ResourceSlice per node) a plain
// `nvidia.com/gpu: 2` Pod lands on the DRA node, served by DynamicResources, beside a device-plugin
// node that is full; a Pod naming its GPU model finds it in the devices' productName; a share never
// goes to DRA devices; once the devices are allocated, a Pod reads that the node's GPUs are held,
// and it takes the devices a leaving Pod's claim gives back.
func TestDRAGPUs(t *testing.T) {
	env := util.NewEnv(t, util.EnvOptions{})
	ns := env.Namespace
	env.CreateNode(util.NodeSpec{Name: "dp-node", GPUs: 2})
	env.CreatePod(occupant(ns, "occupant", "dp-node", 2)) // the device-plugin node is full
	env.CreateNode(util.NodeSpec{Name: "dra-node"})       // no GPU Feature Discovery labels: its GPUs are DRA devices
	env.CreateGPUDeviceClass()
	env.PublishGPUs("dra-node", util.DefaultGPUModel, 4)
	sched := env.StartScheduler(util.SchedulerOptions{})

	env.CreatePod(util.GPUPod(ns, "two-gpus", 2))
	if node := env.WaitPodBound(ns, "two-gpus", bindTimeout, sched); node != "dra-node" {
		t.Fatalf("two-gpus bound to %s, want dra-node (its GPUs are DRA devices; dp-node is full)", node)
	}
	// DynamicResources allocated two devices to the Pod's extended-resource claim.
	env.Wait("the Pod's extended-resource claim to hold 2 devices", 30*time.Second, func(ctx context.Context) (bool, error) {
		claims, err := env.Client.ResourceV1().ResourceClaims(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range claims.Items {
			if c.Status.Allocation != nil && len(c.Status.Allocation.Devices.Results) == 2 {
				return true, nil
			}
		}
		return false, nil
	}, nil)
	if p := env.GetPod(ns, "two-gpus"); p.Status.ExtendedResourceClaimStatus == nil {
		t.Errorf("two-gpus has no extendedResourceClaimStatus: %+v", p.Status)
	}

	// A Pod that names its GPU model finds it in the devices' productName attribute.
	model := util.GPUPod(ns, "model-two-gpus", 2)
	model.Annotations = map[string]string{gpu.ModelAnnotation: util.DefaultGPUModel}
	env.CreatePod(model)
	if node := env.WaitPodBound(ns, model.Name, bindTimeout, sched); node != "dra-node" {
		t.Fatalf("%s bound to %s, want dra-node", model.Name, node)
	}

	// A share goes only to device-plugin GPUs (dp-node's are held whole): DRA allocates devices whole.
	env.CreatePod(util.SharePod(ns, "half", "0.5"))
	env.WaitFailedScheduling(ns, "half", "1 node(s) have no GPU a share can use (DRA devices are allocated whole)", eventTimeout, sched)

	// All four devices are allocated: the DRA node is as full as the device-plugin one.
	env.CreatePod(util.GPUPod(ns, "one-more", 1))
	hint := "none of the 2 node(s) the pod could use has a GPU free; the pod asks 1 GPU"
	msg := env.WaitFailedScheduling(ns, "one-more", hint, eventTimeout, sched)
	checkPending(t, env, "one-more", msg, hint)
	if want := "0/2 nodes are available: 1 Insufficient free GPU devices, 1 Insufficient free GPUs."; !strings.HasPrefix(msg, want) {
		t.Errorf("event %q, want it to start %q", msg, want)
	}
	env.RequireGPUAccounting()

	// two-gpus leaves and its claim gives its devices back, as kube-controller-manager's claim
	// controller does (this control plane has none): deallocated, then deleted. one-more takes them.
	claimName := env.GetPod(ns, "two-gpus").Status.ExtendedResourceClaimStatus.ResourceClaimName
	env.DeletePodNow(ns, "two-gpus")
	claims := env.Client.ResourceV1().ResourceClaims(ns)
	claim, err := claims.Get(env.Ctx, claimName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	claim.Status.Allocation, claim.Status.ReservedFor = nil, nil
	if claim, err = claims.UpdateStatus(env.Ctx, claim, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("deallocating claim %s: %v", claimName, err)
	}
	claim.Finalizers = nil
	if _, err := claims.Update(env.Ctx, claim, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("removing claim %s's finalizer: %v", claimName, err)
	}
	if err := claims.Delete(env.Ctx, claimName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if node := env.WaitPodBound(ns, "one-more", bindTimeout, sched); node != "dra-node" {
		t.Fatalf("one-more bound to %s, want dra-node, whose devices two-gpus gave back", node)
	}
	env.RequireGPUAccounting()
}

// TestDRAPacking: device-plugin and DRA nodes side by side (4 and 25 nodes of 8 GPUs) take 232
// one-GPU Pods of one spec until every GPU of both kinds is held, across a scheduler restart, with
// no device allocated twice; GPUFit's count of free devices agrees with what DynamicResources
// allocates, to the last device.
func TestDRAPacking(t *testing.T) {
	const dpNodes, draNodes, perNode, podGPUs = 4, 25, 8, 1
	env := util.NewEnv(t, util.EnvOptions{})
	ns := env.Namespace
	env.CreateNodes("dp", dpNodes, util.NodeSpec{GPUs: perNode})
	env.CreateGPUDeviceClass()
	for _, name := range env.CreateNodes("dra", draNodes, util.NodeSpec{}) {
		env.PublishGPUs(name, util.DefaultGPUModel, perNode)
	}
	pods := func(from, to int) []*corev1.Pod {
		var out []*corev1.Pod
		for i := from; i < to; i++ {
			out = append(out, util.GPUPod(ns, fmt.Sprintf("train-%03d", i), podGPUs))
		}
		return out
	}
	total := (dpNodes + draNodes) * perNode / podGPUs

	sched := env.StartScheduler(util.SchedulerOptions{})
	env.CreatePods(pods(0, total/2), 4)
	env.WaitBoundCount(ns, total/2, 2*bindTimeout, sched)
	env.RequireGPUAccounting()
	if err := sched.Kill(); err != nil {
		t.Fatal(err)
	}
	sched = env.StartScheduler(util.SchedulerOptions{})
	env.CreatePods(pods(total/2, total), 4)
	bound := env.WaitBoundCount(ns, total, 2*bindTimeout, sched)
	env.RequireGPUAccounting()

	perNodeBound := map[string]int{}
	for _, p := range bound {
		perNodeBound[p.Spec.NodeName]++
		if p.Spec.NodeName[:3] == "dra" && p.Status.ExtendedResourceClaimStatus == nil {
			t.Errorf("%s on DRA node %s has no extended-resource claim", p.Name, p.Spec.NodeName)
		}
	}
	for node, n := range perNodeBound {
		if n != perNode/podGPUs {
			t.Errorf("node %s holds %d Pods, want %d (every GPU held)", node, n, perNode/podGPUs)
		}
	}
	env.CreatePod(util.GPUPod(ns, "one-more", podGPUs))
	env.WaitFailedScheduling(ns, "one-more", fmt.Sprintf("0/%d nodes are available: %d Insufficient free GPU devices, %d Insufficient free GPUs.",
		dpNodes+draNodes, draNodes, dpNodes), eventTimeout, sched)
}

// TestDRAClaimPod: a DRA node's free devices hold its CPU back from CPU-only Pods as free GPUs do,
// and a Pod whose own ResourceClaim asks for 4 GPUs of the class is a 4-GPU Pod: it is not held
// back, binds, and DynamicResources allocates its claim 4 devices.
func TestDRAClaimPod(t *testing.T) {
	env := util.NewEnv(t, util.EnvOptions{})
	ns := env.Namespace
	env.CreateNode(util.NodeSpec{Name: "dra-node", CPU: "32", Memory: "256Gi"})
	env.CreateGPUDeviceClass()
	env.PublishGPUs("dra-node", util.DefaultGPUModel, 4)
	sched := env.StartScheduler(util.SchedulerOptions{})

	withCPU := func(p *corev1.Pod) *corev1.Pod {
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("30")}
		return p
	}
	cpuOnly := withCPU(util.GPUPod(ns, "cpu-only", 0))
	env.CreatePod(cpuOnly)
	env.WaitFailedScheduling(ns, cpuOnly.Name, "1 node(s) hold their free CPU back for GPU pods", eventTimeout, sched)
	env.DeletePodNow(ns, cpuOnly.Name)

	claim := &resourceapi.ResourceClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "four-gpus"},
		Spec: resourceapi.ResourceClaimSpec{Devices: resourceapi.DeviceClaim{Requests: []resourceapi.DeviceRequest{{
			Name:    "gpus",
			Exactly: &resourceapi.ExactDeviceRequest{DeviceClassName: util.GPUDriver, AllocationMode: resourceapi.DeviceAllocationModeExactCount, Count: 4},
		}}}},
	}
	if _, err := env.Client.ResourceV1().ResourceClaims(ns).Create(env.Ctx, claim, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := withCPU(util.GPUPod(ns, "claims-four", 0))
	pod.Spec.ResourceClaims = []corev1.PodResourceClaim{{Name: "gpus", ResourceClaimName: ptr.To(claim.Name)}}
	pod.Spec.Containers[0].Resources.Claims = []corev1.ResourceClaim{{Name: "gpus"}}
	env.CreatePod(pod)
	if node := env.WaitPodBound(ns, pod.Name, bindTimeout, sched); node != "dra-node" {
		t.Fatalf("%s bound to %s, want dra-node", pod.Name, node)
	}
	got, err := env.Client.ResourceV1().ResourceClaims(ns).Get(env.Ctx, claim.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Allocation == nil || len(got.Status.Allocation.Devices.Results) != 4 {
		t.Errorf("claim %s: allocation %+v, want 4 devices", claim.Name, got.Status.Allocation)
	}
	env.RequireGPUAccounting()
}

// TestDRAGang: a 4 x 8-GPU gang that requires one InfiniBand fabric lands in the fabric of DRA nodes
// that holds it (4 nodes of 8 devices), not in the device-plugin fabric of 2 nodes: Interconnect
// counts the room of DRA nodes from their free devices, and each member gets a claim of 8 devices.
func TestDRAGang(t *testing.T) {
	env := util.NewEnv(t, util.EnvOptions{})
	env.InstallPodGroupCRD()
	env.CreateGPUDeviceClass()
	fabricNodes(env, "fab-a", 2, 2)
	for i := range 4 {
		name := fmt.Sprintf("fab-b-%d", i)
		env.CreateNode(util.NodeSpec{Name: name, Labels: map[string]string{
			util.IBFabricLabel: "fab-b", util.IBLeafLabel: fmt.Sprintf("fab-b-leaf%d", i/2), util.InfiniBandLabel: "true",
		}})
		env.PublishGPUs(name, util.DefaultGPUModel, 8)
	}
	sched := env.StartScheduler(util.SchedulerOptions{})
	watch := env.WatchGangs(env.Namespace, map[string]int{"train": 4}, partialGrace)

	createGang(env, "train", 4, 8, requireFabric)
	nodes := waitGangBound(t, env, "train", 4, gangBindTimeout, sched)
	requireOneFabric(t, "train", nodes, "fab-b")
	watch.Check()
	for _, p := range env.ListPods(env.Namespace) {
		if p.Status.ExtendedResourceClaimStatus == nil {
			t.Errorf("gang member %s on %s has no extended-resource claim", p.Name, p.Spec.NodeName)
		}
	}
	env.RequireGPUAccounting()
}
