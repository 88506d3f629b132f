package integration

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kubernetes/pkg/apis/core/validation"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/test/integration/util"
)

// TestPendingHints: a Pending GPU Pod's FailedScheduling event, and its PodScheduled condition, end
// with the nearest fit, in the words the README's "Why a Pod is Pending" section quotes.
func TestPendingHints(t *testing.T) {
	env := util.NewEnv(t, util.EnvOptions{})
	ns := env.Namespace
	env.CreateNode(util.NodeSpec{Name: "cpu-node", CPU: "16", Memory: "64Gi"})
	env.CreateNode(util.NodeSpec{Name: "gpu-a", GPUs: 4, CPU: "32", Memory: "256Gi"})
	env.CreateNode(util.NodeSpec{Name: "gpu-b", GPUs: 8, CPU: "32", Memory: "256Gi"})
	sched := env.StartScheduler(util.SchedulerOptions{})

	withCPU := func(p *corev1.Pod, cpu string) *corev1.Pod {
		if p.Spec.Containers[0].Resources.Requests == nil {
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{}
		}
		p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse(cpu)
		return p
	}
	for _, node := range []string{"gpu-a", "gpu-b"} { // 16 of each GPU node's 32 CPUs taken
		hog := withCPU(util.GPUPod(ns, "cpu-hog-"+node, 0), "16")
		hog.Spec.NodeName, hog.Spec.SchedulerName = node, "default-scheduler"
		env.CreatePod(hog)
	}
	modelPod := util.GPUPod(ns, "model-nobody-has", 1)
	modelPod.Annotations = map[string]string{gpu.ModelAnnotation: "Tesla-V100"}
	for _, tc := range []struct {
		pod  *corev1.Pod
		hint string
	}{
		{util.GPUPod(ns, "too-big", 16), "no node has 16 GPUs in total (the most is 8): waiting will not help"},
		{withCPU(util.GPUPod(ns, "cpu-blocked", 2), "20"), "2 node(s) have 2 GPUs free but not 20 free CPU"},
		{withCPU(util.GPUPod(ns, "cpu-too-big", 2), "40"), "2 node(s) have 2 GPUs free but not 40 CPU in all: waiting will not help"},
		{modelPod, "no node that the pod's own constraints allow (node name, selector and affinity, taints, ports, GPU model, interconnect) has 1 GPU in total: waiting will not help"},
	} {
		env.CreatePod(tc.pod)
		msg := env.WaitFailedScheduling(ns, tc.pod.Name, tc.hint, eventTimeout, sched)
		checkPending(t, env, tc.pod.Name, msg, tc.hint)
	}

	// Every GPU held whole but GPU 0 of gpu-a, which holds a 0.8 share: a half GPU fits nowhere.
	env.CreatePod(occupant(ns, "hold-a", "gpu-a", 3))
	env.CreatePod(occupant(ns, "hold-b", "gpu-b", 8))
	share := util.SharePod(ns, "share-0.8", "0.8")
	share.Spec.NodeName = "gpu-a"
	share.Spec.SchedulerName = "default-scheduler"
	share.Annotations[gpu.GPUIndexAnnotation] = "0"
	env.CreatePod(share)
	half := util.SharePod(ns, "half", "0.5")
	env.CreatePod(half)
	hint := "largest free share: 0.2 of a GPU on gpu-a (" + util.DefaultGPUModel + "); the pod asks 0.5 of a GPU"
	msg := env.WaitFailedScheduling(ns, half.Name, hint, eventTimeout, sched)
	checkPending(t, env, half.Name, msg, hint)
	if strings.Contains(msg, "gang") || strings.Contains(msg, "group") {
		t.Errorf("a Pod in no gang reads about gangs: %q", msg)
	}
}

// checkPending checks that the event ends with the hint, and that the Pod's PodScheduled condition
// (written apart from the event, so waited for) says the same.
func checkPending(t *testing.T, env *util.Env, name, msg, hint string) {
	t.Helper()
	t.Logf("%s: %s", name, msg)
	if !strings.HasSuffix(msg, hint) {
		t.Errorf("%s: event %q does not end with %q", name, msg, hint)
	}
	var last string
	env.Wait(name+"'s PodScheduled condition to say "+hint, eventTimeout, func(ctx context.Context) (bool, error) {
		p, err := env.Client.CoreV1().Pods(env.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled {
				last = fmt.Sprintf("%s %s %q", c.Status, c.Reason, c.Message)
				return c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable && strings.HasSuffix(c.Message, hint), nil
			}
		}
		return false, nil
	}, func() string { return "last seen: " + last })
}

// TestPendingEveryReason: a GPU Pod that each of twelve nodes rejects for a different reason (its own
// spec's checks, then capacity) still gets the whole message, nearest fit included, into its event:
// kube-scheduler cuts an event's note at 1,024 bytes, so the message must leave room for every count
// to grow to four digits (a 5,000-node cluster).
func TestPendingEveryReason(t *testing.T) {
	env := util.NewEnv(t, util.EnvOptions{})
	ns := env.Namespace
	pool := map[string]string{"pool": "train", util.InfiniBandLabel: "true"}
	with := func(extra map[string]string) map[string]string {
		labels := map[string]string{}
		for k, v := range pool {
			labels[k] = v
		}
		for k, v := range extra {
			labels[k] = v
		}
		return labels
	}
	for _, n := range []util.NodeSpec{
		{Name: "cordoned", GPUs: 8, Labels: pool, Unschedulable: true},
		{Name: "other-pool", GPUs: 8, Labels: with(map[string]string{"pool": "infer"})},
		{Name: "tainted", GPUs: 8, Labels: pool, Taints: []corev1.Taint{{Key: "dedicated", Value: "team-a", Effect: corev1.TaintEffectNoSchedule}}},
		{Name: "port-taken", GPUs: 8, Labels: pool},
		{Name: "no-model", CPU: "64", Memory: "512Gi", Labels: pool},
		{Name: "other-model", GPUs: 8, GPUModel: "NVIDIA-L4", Labels: pool},
		{Name: "no-infiniband", GPUs: 8, Labels: map[string]string{"pool": "train"}},
		{Name: "no-gpus", Labels: with(map[string]string{util.ModelLabel: util.DefaultGPUModel})},
		{Name: "small", GPUs: 2, Labels: pool},
		{Name: "busy", GPUs: 8, Labels: pool},
		{Name: "few-cpus", GPUs: 8, CPU: "4", Labels: pool},
		{Name: "little-memory", GPUs: 8, Memory: "16Gi", Labels: pool},
	} {
		env.CreateNode(n)
	}
	ports := occupant(ns, "port-holder", "port-taken", 0)
	ports.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080, HostPort: 8080}}
	env.CreatePod(ports)
	env.CreatePod(occupant(ns, "gpu-holder", "busy", 6))
	sched := env.StartScheduler(util.SchedulerOptions{})

	pod := util.GPUPod(ns, "every-reason", 4)
	pod.Annotations = map[string]string{gpu.ModelAnnotation: util.DefaultGPUModel, gpu.InterconnectAnnotation: "infiniband"}
	pod.Spec.NodeSelector = map[string]string{"pool": "train"}
	c := &pod.Spec.Containers[0]
	c.Ports = []corev1.ContainerPort{{ContainerPort: 8080, HostPort: 8080}}
	c.Resources.Requests[corev1.ResourceCPU] = resource.MustParse("8")
	c.Resources.Requests[corev1.ResourceMemory] = resource.MustParse("32Gi")
	env.CreatePod(pod)

	hint := "1 node(s) have 4 GPUs free but not 8 CPU in all: waiting will not help"
	msg := env.WaitFailedScheduling(ns, pod.Name, hint, eventTimeout, sched)
	checkPending(t, env, pod.Name, msg, hint)
	for _, reason := range []string{
		"1 node(s) were unschedulable", "1 node(s) didn't match Pod's node affinity/selector",
		"1 node(s) had untolerated taint(s)", "1 node(s) didn't have free ports for the requested pod ports",
		"1 node(s) have no GPU model label", "1 node(s) have a GPU model the pod does not accept",
		"1 node(s) lack the required interconnect infiniband", "1 node(s) have no GPUs",
		"1 node(s) have fewer GPUs in total than the pod requests", "1 Insufficient free GPUs",
		"1 Insufficient cpu", "1 Insufficient memory",
	} {
		if !strings.Contains(msg, reason) {
			t.Errorf("event lacks %q", reason)
		}
	}
	counts := regexp.MustCompile(`\b\d+ `).FindAllStringIndex(msg, -1)
	if room := validation.NoteLengthLimit - len(msg) - 3*len(counts); room < 0 {
		t.Errorf("event is %d bytes with %d counts: at 5,000 nodes it would pass the %d-byte limit by %d and lose its hint",
			len(msg), len(counts), validation.NoteLengthLimit, -room)
	} else {
		t.Logf("event: %d bytes, %d counts; %d bytes to spare at four-digit counts", len(msg), len(counts), room)
	}
}
