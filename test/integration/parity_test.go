package integration

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim/trace"
	"github.com/gpu-scheduler/gpu-scheduler/test/integration/util"
)

// TestSimulatorParity: the daemon on a real control plane and gpu-sim, given the same nodes, the
// same Pods in the same order and the same config, place every Pod on the same node (and a share on
// the same GPU). The nodes differ in shape, so no placement is left to a tie, which the two break
// with different random sources.
func TestSimulatorParity(t *testing.T) {
	env := util.NewEnv(t, util.EnvOptions{})
	ns := env.Namespace
	for _, spec := range shapedNodes {
		env.CreateNode(spec)
	}
	sched := env.StartScheduler(util.SchedulerOptions{Name: "parity"})

	pods := sizedPods(ns, []int64{1, 2, 0, 4, 1, 8, 0, 2, 1}, []string{"0.5", "0.25", "0.5", "0.75"})
	daemon := map[string]string{}
	for _, p := range pods {
		env.CreatePod(p)
		node := env.WaitPodBound(ns, p.Name, bindTimeout, sched)
		daemon[p.Name] = node + gpuIndex(env.GetPod(ns, p.Name))
	}

	nodeList, err := env.Client.CoreV1().Nodes().List(env.Ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*corev1.Node{}
	for i := range nodeList.Items {
		byName[nodeList.Items[i].Name] = &nodeList.Items[i]
	}
	// The daemon's node order is its cache's; the simulator takes the order it is given. The
	// nodes' shapes, not their order, decide every placement here.
	var nodes []*corev1.Node
	for _, n := range []string{"h100-a", "h100-b", "a100", "t4", "cpu"} {
		nodes = append(nodes, byName[n])
	}
	profiles, err := sim.LoadProfiles(env.Path("config/scheduler-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(env.Ctx, profiles[0], trace.Cluster{Nodes: nodes}, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		created := env.GetPod(ns, p.Name)
		created.Spec.NodeName = ""
		delete(created.Annotations, util.GPUIndexAnnotation)
		placed, err := s.Schedule(created)
		if err != nil {
			t.Fatal(err)
		}
		got := placed.Node
		if placed.Pod != nil {
			got += gpuIndex(placed.Pod)
		}
		if got != daemon[p.Name] {
			t.Errorf("%s: daemon placed it on %s, the simulator on %s", p.Name, daemon[p.Name], got)
		}
	}
	t.Logf("placements: %v", daemon)
}

// shapedNodes differ in shape, so that no placement is left to a tie, which the daemon and the
// simulator break with different random sources.
var shapedNodes = []util.NodeSpec{
	{Name: "h100-a", GPUs: 8, CPU: "96", Memory: "768Gi", GPUModel: "NVIDIA-H100-80GB-HBM3"},
	{Name: "h100-b", GPUs: 8, CPU: "128", Memory: "1024Gi", GPUModel: "NVIDIA-H100-80GB-HBM3"},
	{Name: "a100", GPUs: 4, CPU: "64", Memory: "512Gi"},
	{Name: "t4", GPUs: 2, CPU: "40", Memory: "192Gi", GPUModel: "Tesla-T4"},
	{Name: "cpu", CPU: "32", Memory: "128Gi"},
}

// sizedPods are Pods asking for those whole GPUs (pNN-<n>gpu) and those shares (sNN-share), each
// with CPU and memory large enough that NodeResourcesFit's integer scores tell shapedNodes apart (at
// 4 CPUs and 12Gi both H100 nodes scored 2 and the daemon broke the tie at random).
func sizedPods(ns string, gpus []int64, fractions []string) []*corev1.Pod {
	var pods []*corev1.Pod
	for i, n := range gpus {
		pods = append(pods, util.GPUPod(ns, fmt.Sprintf("p%02d-%dgpu", i, n), n))
	}
	for i, fraction := range fractions {
		pods = append(pods, util.SharePod(ns, fmt.Sprintf("s%02d-share", i), fraction))
	}
	for _, p := range pods {
		c := &p.Spec.Containers[0]
		if c.Resources.Requests == nil {
			c.Resources.Requests = corev1.ResourceList{}
		}
		c.Resources.Requests[corev1.ResourceCPU] = resource.MustParse("8")
		c.Resources.Requests[corev1.ResourceMemory] = resource.MustParse("32Gi")
	}
	return pods
}

// gpuIndex is "/<index>" for a Pod holding a share, else "".
func gpuIndex(p *corev1.Pod) string {
	if idx, ok := p.Annotations[util.GPUIndexAnnotation]; ok {
		return "/" + idx
	}
	return ""
}
