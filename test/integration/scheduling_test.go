package integration

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/test/integration/util"
)

const (
	bindTimeout  = 60 * time.Second
	eventTimeout = 60 * time.Second
)

// occupant is a Pod already bound to node (spec.nodeName set at creation) that holds gpus GPUs.
func occupant(namespace, name, node string, gpus int64) *corev1.Pod {
	p := util.GPUPod(namespace, name, gpus)
	p.Spec.SchedulerName = "default-scheduler"
	p.Spec.NodeName = node
	return p
}

// TestSeedPods schedules the seed document's three Pods (manifests/examples) on a CPU-only node, a
// node with one free GPU (of four) and a node with two free GPUs.
func TestSeedPods(t *testing.T) {
	env := util.NewEnv(t, util.EnvOptions{})
	ns := env.Namespace
	env.CreateNode(util.NodeSpec{Name: "cpu-node", CPU: "16", Memory: "64Gi"})
	env.CreateNode(util.NodeSpec{Name: "gpu-node-a", GPUs: 4})
	env.CreateNode(util.NodeSpec{Name: "gpu-node-b", GPUs: 2})
	env.CreatePod(occupant(ns, "occupant", "gpu-node-a", 3)) // gpu-node-a: 1 of 4 GPUs free
	sched := env.StartScheduler(util.SchedulerOptions{})

	nginx := env.LoadPod("manifests/examples/nginx-pod.yaml", ns)
	if nginx.Spec.SchedulerName != util.SchedulerName || util.PodGPUs(nginx) != 0 {
		t.Fatalf("nginx-pod example: schedulerName %q, %d GPUs; want gpu-scheduler, 0", nginx.Spec.SchedulerName, util.PodGPUs(nginx))
	}
	env.CreatePod(nginx)
	if node := env.WaitPodBound(ns, "nginx-pod", bindTimeout, sched); node != "cpu-node" {
		t.Errorf("CPU-only nginx-pod bound to %s, want cpu-node (GPU nodes keep their CPU for GPU pods)", node)
	}

	gpuPod := env.LoadPod("manifests/examples/gpu-pod.yaml", ns)
	if util.PodGPUs(gpuPod) != 1 {
		t.Fatalf("gpu-pod example requests %d GPUs, want 1", util.PodGPUs(gpuPod))
	}
	env.CreatePod(gpuPod)
	// Best fit: the node left with the fewest free GPUs, so gpu-node-b's two stay together.
	if node := env.WaitPodBound(ns, "gpu-pod", bindTimeout, sched); node != "gpu-node-a" {
		t.Errorf("gpu-pod bound to %s, want gpu-node-a (best fit, keeps gpu-node-b's 2 GPUs whole)", node)
	}

	multi := env.LoadPod("manifests/examples/multi-gpu-pod.yaml", ns)
	if util.PodGPUs(multi) != 2 {
		t.Fatalf("multi-gpu-pod example requests %d GPUs, want 2", util.PodGPUs(multi))
	}
	env.CreatePod(multi)
	if node := env.WaitPodBound(ns, "multi-gpu-pod", bindTimeout, sched); node != "gpu-node-b" {
		t.Errorf("multi-gpu-pod bound to %s, want gpu-node-b (the only node with 2 free GPUs)", node)
	}

	// No node has two free GPUs any more: another 2-GPU Pod stays Pending, saying why.
	more := multi.DeepCopy()
	more.Name = "multi-gpu-pod-2"
	env.CreatePod(more)
	msg := env.WaitFailedScheduling(ns, more.Name, "Insufficient free GPUs", eventTimeout, sched)
	for _, want := range []string{"0/3 nodes are available", "1 node(s) have no GPUs", "2 Insufficient free GPUs"} {
		if !strings.Contains(msg, want) {
			t.Errorf("FailedScheduling message %q does not contain %q", msg, want)
		}
	}
	// The hint: every GPU the Pod could use is held (cpu-node could never take it).
	if want := "none of the 2 node(s) the pod could use has a GPU free; the pod asks 2 GPUs"; !strings.Contains(msg, want) {
		t.Errorf("FailedScheduling message %q does not end with the hint %q", msg, want)
	}

	// A Pod pinned to gpu-node-b by nodeSelector reads why the other nodes do not do first: the
	// selector, not their GPUs.
	pinned := multi.DeepCopy()
	pinned.Name = "pinned"
	pinned.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": "gpu-node-b"}
	env.CreatePod(pinned)
	msg = env.WaitFailedScheduling(ns, pinned.Name, "Insufficient free GPUs", eventTimeout, sched)
	for _, want := range []string{"1 Insufficient free GPUs", "2 node(s) didn't match Pod's node affinity/selector",
		"none of the 1 node(s) the pod could use has a GPU free; the pod asks 2 GPUs"} {
		if !strings.Contains(msg, want) {
			t.Errorf("FailedScheduling message %q does not contain %q", msg, want)
		}
	}

	// A Pod in no gang hears nothing about gangs.
	if strings.Contains(msg, "group") || strings.Contains(msg, "gang") {
		t.Errorf("FailedScheduling message %q of a Pod in no gang speaks of gangs", msg)
	}

	// A 10 KB annotation value is echoed cut, with its length, and the note stays under 1 KB.
	huge := multi.DeepCopy()
	huge.Name = "huge-annotation"
	huge.Annotations = map[string]string{gpu.InterconnectAnnotation: strings.Repeat("x", 10240)}
	env.CreatePod(huge)
	msg = env.WaitFailedScheduling(ns, huge.Name, "(10240 bytes)", eventTimeout, sched)
	if !strings.Contains(msg, `"`+strings.Repeat("x", 64)+`"... (10240 bytes)`) || len(msg) >= 1024 {
		t.Errorf("FailedScheduling message (%d bytes) %.300q: want the value cut to 64 bytes with its length, under 1 KB", len(msg), msg)
	}
	if p := env.GetPod(ns, more.Name); p.Spec.NodeName != "" {
		t.Errorf("multi-gpu-pod-2 bound to %s, no node has 2 free GPUs", p.Spec.NodeName)
	}
	env.RequireGPUAccounting()
}

// TestForeignPodsAreIgnored: Pods for another scheduler, or naming none, are never bound by ours.
func TestForeignPodsAreIgnored(t *testing.T) {
	env := util.NewEnv(t, util.EnvOptions{})
	ns := env.Namespace
	env.CreateNode(util.NodeSpec{Name: "gpu-node", GPUs: 8})
	env.CreateNode(util.NodeSpec{Name: "cpu-node"})
	sched := env.StartScheduler(util.SchedulerOptions{})

	foreign := map[string]string{ // name -> schedulerName
		"default-scheduler-gpu": "default-scheduler",
		"unset-scheduler-gpu":   "",
		"unset-scheduler-cpu":   "",
		"other-scheduler-gpu":   "another-scheduler",
	}
	var names []string
	for name, schedulerName := range foreign {
		p := util.GPUPod(ns, name, 1)
		if strings.HasSuffix(name, "-cpu") {
			p = util.GPUPod(ns, name, 0)
		}
		p.Spec.SchedulerName = schedulerName
		got := env.CreatePod(p)
		if schedulerName == "" && got.Spec.SchedulerName != "default-scheduler" {
			t.Errorf("pod %s without schedulerName defaulted to %q, want default-scheduler", name, got.Spec.SchedulerName)
		}
		names = append(names, name)
	}
	// Our own Pod, created after the others, gets bound: the scheduler is up and has seen them all.
	env.CreatePod(util.GPUPod(ns, "ours", 1))
	env.WaitPodBound(ns, "ours", bindTimeout, sched)
	env.ConsistentlyUnbound(ns, names, 4*time.Second)
	if err := util.AliveCheck(sched); err != nil {
		t.Fatal(err)
	}

	// gpu-scheduler wrote nothing about them either.
	events, err := env.Client.CoreV1().Events(ns).List(env.Ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events.Items {
		if _, isForeign := foreign[ev.InvolvedObject.Name]; isForeign {
			t.Errorf("event about foreign pod %s: %s %s (from %s/%s)", ev.InvolvedObject.Name, ev.Reason, ev.Message,
				ev.ReportingController, ev.Source.Component)
		}
	}
}

// TestInfiniBandRequired: a Pod requiring InfiniBand binds only to InfiniBand nodes, waits with a
// FailedScheduling event naming the interconnect while none is free, and is scheduled within seconds
// when an InfiniBand node joins (queueing hints, not the 5-minute flush of unschedulable Pods).
func TestInfiniBandRequired(t *testing.T) {
	env := util.NewEnv(t, util.EnvOptions{})
	ns := env.Namespace
	ib := map[string]string{util.InfiniBandLabel: "true"}
	env.CreateNode(util.NodeSpec{Name: "plain-0", GPUs: 8})
	env.CreateNode(util.NodeSpec{Name: "plain-1", GPUs: 8})
	env.CreateNode(util.NodeSpec{Name: "ib-0", GPUs: 8, Labels: ib})
	sched := env.StartScheduler(util.SchedulerOptions{})

	train := env.LoadPod("manifests/examples/infiniband-training-pod.yaml", ns)
	if train.Annotations[util.InterconnectAnnotation] != "infiniband" || util.PodGPUs(train) != 8 {
		t.Fatalf("infiniband-training-pod example: annotations %v, %d GPUs", train.Annotations, util.PodGPUs(train))
	}
	env.CreatePod(train)
	if node := env.WaitPodBound(ns, train.Name, bindTimeout, sched); node != "ib-0" {
		t.Fatalf("infiniband pod bound to %s, want ib-0 (the only InfiniBand node)", node)
	}

	// ib-0 is full; the plain nodes have 16 free GPUs but no InfiniBand.
	small := util.GPUPod(ns, "ib-small", 1)
	small.Annotations = map[string]string{util.InterconnectAnnotation: "infiniband"}
	env.CreatePod(small)
	msg := env.WaitFailedScheduling(ns, small.Name, "lack the required interconnect infiniband", eventTimeout, sched)
	for _, want := range []string{"2 node(s) lack the required interconnect infiniband", "1 Insufficient free GPUs"} {
		if !strings.Contains(msg, want) {
			t.Errorf("FailedScheduling message %q does not contain %q", msg, want)
		}
	}
	if p := env.GetPod(ns, small.Name); p.Spec.NodeName != "" {
		t.Fatalf("ib-small bound to %s while no InfiniBand node had a free GPU", p.Spec.NodeName)
	}

	start := time.Now()
	env.CreateNode(util.NodeSpec{Name: "ib-1", GPUs: 8, Labels: ib})
	node := env.WaitPodBound(ns, small.Name, 20*time.Second, sched)
	took := time.Since(start)
	if node != "ib-1" {
		t.Errorf("ib-small bound to %s, want ib-1", node)
	}
	t.Logf("ib-small bound %v after ib-1 joined", took.Round(time.Millisecond))
	env.RequireGPUAccounting()
}

// TestInitAndSidecarGPUsCount: sidecars (restartable init containers) add their GPUs to the
// containers'; a one-shot init container needs its GPUs free before the containers start.
func TestInitAndSidecarGPUsCount(t *testing.T) {
	env := util.NewEnv(t, util.EnvOptions{})
	ns := env.Namespace
	env.CreateNode(util.NodeSpec{Name: "gpu-a", GPUs: 2})
	env.CreatePod(occupant(ns, "occupant", "gpu-a", 1)) // gpu-a: 1 of 2 GPUs free
	sched := env.StartScheduler(util.SchedulerOptions{})

	always := corev1.ContainerRestartPolicyAlways
	// Sidecar 1 GPU + container 1 GPU = 2 GPUs: does not fit the one free GPU.
	sidecar := util.GPUPod(ns, "sidecar-2", 1)
	sidecar.Spec.InitContainers = []corev1.Container{{
		Name: "sidecar", Image: "registry.invalid/sidecar:1", RestartPolicy: &always, Resources: util.GPURequests(1),
	}}
	// One-shot init container with 3 GPUs: more than any node has.
	init3 := util.GPUPod(ns, "init-3", 1)
	init3.Spec.InitContainers = []corev1.Container{{Name: "warmup", Image: "registry.invalid/warmup:1", Resources: util.GPURequests(3)}}
	for _, p := range []*corev1.Pod{sidecar, init3} {
		env.CreatePod(p)
	}
	if got := util.PodGPUs(sidecar); got != 2 {
		t.Fatalf("effective GPU request of sidecar-2 = %d, want 2", got)
	}
	env.WaitFailedScheduling(ns, sidecar.Name, "Insufficient free GPUs", eventTimeout, sched)
	env.WaitFailedScheduling(ns, init3.Name, "fewer GPUs in total than the pod requests", eventTimeout, sched)

	// A one-shot init container's GPUs are reused by the containers: 1 GPU in all, it fits.
	init1 := util.GPUPod(ns, "init-1", 1)
	init1.Spec.InitContainers = []corev1.Container{{Name: "warmup", Image: "registry.invalid/warmup:1", Resources: util.GPURequests(1)}}
	env.CreatePod(init1)
	if node := env.WaitPodBound(ns, init1.Name, bindTimeout, sched); node != "gpu-a" {
		t.Errorf("init-1 bound to %s, want gpu-a", node)
	}
	env.ConsistentlyUnbound(ns, []string{sidecar.Name, init3.Name}, 2*time.Second)

	// A fresh 2-GPU node fits the sidecar Pod; still nothing fits 3 GPUs.
	env.CreateNode(util.NodeSpec{Name: "gpu-b", GPUs: 2})
	if node := env.WaitPodBound(ns, sidecar.Name, bindTimeout, sched); node != "gpu-b" {
		t.Errorf("sidecar-2 bound to %s, want gpu-b", node)
	}
	// (GPUFit's queueing hint does not even retry init-3 for a node with fewer GPUs than it needs.)
	env.ConsistentlyUnbound(ns, []string{init3.Name}, 2*time.Second)
	env.RequireGPUAccounting()
}
