package integration

import (
	"context"
	"regexp"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/gpu-scheduler/gpu-scheduler/test/integration/util"
)

// deployedLeaderElection reads the leaderElection block of manifests/configmap.yaml's scheduler config.
func deployedLeaderElection(t *testing.T, env *util.Env) *util.LeaderElection {
	t.Helper()
	objs := env.ReadObjects("manifests/configmap.yaml")
	if len(objs) != 1 || objs[0].GetKind() != "ConfigMap" {
		t.Fatalf("manifests/configmap.yaml: want one ConfigMap, got %d objects", len(objs))
	}
	data, _ := objs[0].Object["data"].(map[string]any)
	text, _ := data["scheduler-config.yaml"].(string)
	var cfg struct {
		LeaderElection struct {
			LeaderElect bool `json:"leaderElect"`
			util.LeaderElection
		} `json:"leaderElection"`
	}
	if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
		t.Fatalf("manifests/configmap.yaml scheduler-config.yaml: %v", err)
	}
	le := cfg.LeaderElection
	if !le.LeaderElect || le.ResourceName == "" || le.ResourceNamespace == "" {
		t.Fatalf("manifests/configmap.yaml: leaderElection %+v: want leaderElect with a resourceName and resourceNamespace", le)
	}
	return &le.LeaderElection
}

// TestRBAC runs the scheduler as the ServiceAccount of manifests/ with exactly the RBAC of
// manifests/rbac.yaml (the apiserver authorizes with RBAC): it takes its Lease, binds a GPU Pod and a
// GPU-share Pod (whose GPU index it patches onto the Pod) and a Pod on DRA GPUs (whose claim it
// writes), and may not read Secrets.
func TestRBAC(t *testing.T) {
	env := util.NewEnv(t, util.EnvOptions{})
	ns := env.Namespace
	const saNS, saName = "gpu-scheduler", "gpu-scheduler"
	applier := env.NewApplier()
	applier.MustCreate("manifests/namespace.yaml", "manifests/serviceaccount.yaml")

	kubeconfig, saConfig, err := env.CP.ServiceAccountKubeconfig(env.Ctx, saNS, saName)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := kubernetes.NewForConfig(saConfig)
	if err != nil {
		t.Fatal(err)
	}
	// The apiserver authorizes: before rbac.yaml the ServiceAccount may not even list Pods.
	if _, err := sa.CoreV1().Pods("").List(env.Ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("listing pods as %s/%s before applying rbac.yaml: %v, want Forbidden (is RBAC authorization on?)", saNS, saName, err)
	}
	applier.MustCreate("manifests/rbac.yaml")

	le := deployedLeaderElection(t, env)
	env.CreateNode(util.NodeSpec{Name: "gpu-0", GPUs: 2})
	lease := env.RecordLease(le.ResourceNamespace, le.ResourceName)
	sched := env.StartScheduler(util.SchedulerOptions{Kubeconfig: kubeconfig, LeaderElection: le})

	env.CreatePod(util.GPUPod(ns, "whole", 1))
	env.CreatePod(util.SharePod(ns, "half", "0.5"))
	if node := env.WaitPodBound(ns, "whole", 2*bindTimeout, sched); node != "gpu-0" {
		t.Errorf("whole bound to %s, want gpu-0", node)
	}
	if node := env.WaitPodBound(ns, "half", bindTimeout, sched); node != "gpu-0" {
		t.Errorf("half bound to %s, want gpu-0", node)
	}
	if idx, ok := env.GetPod(ns, "half").Annotations[util.GPUIndexAnnotation]; !ok {
		t.Errorf("half has no %s annotation: PreBind could not patch it", util.GPUIndexAnnotation)
	} else if idx != "0" && idx != "1" {
		t.Errorf("half: %s=%q, want 0 or 1", util.GPUIndexAnnotation, idx)
	}
	// A node whose GPUs a DRA driver publishes, added once gpu-0 is taken (two equal nodes would leave
	// the placements above to a tie-break): the scheduler reads slices, classes and claims, and writes
	// the claim DynamicResources allocates.
	env.CreateNode(util.NodeSpec{Name: "dra-0"})
	env.CreateGPUDeviceClass()
	env.PublishGPUs("dra-0", util.DefaultGPUModel, 2)
	env.CreatePod(util.GPUPod(ns, "dra-two", 2)) // gpu-0 has half a GPU free: only dra-0 has two
	if node := env.WaitPodBound(ns, "dra-two", bindTimeout, sched); node != "dra-0" {
		t.Errorf("dra-two bound to %s, want dra-0", node)
	}
	if p := env.GetPod(ns, "dra-two"); p.Status.ExtendedResourceClaimStatus == nil {
		t.Error("dra-two has no extended-resource claim: the scheduler could not write it")
	}
	env.RequireGPUAccounting()
	// The recorder polls: the Lease may have a holder it has not seen yet.
	env.Wait("a holder on Lease "+le.ResourceNamespace+"/"+le.ResourceName, eventTimeout, func(context.Context) (bool, error) {
		return lease.Holder() != "", nil
	}, nil)

	// Events were written as the ServiceAccount.
	env.Wait("the Scheduled event of pod half", eventTimeout, func(ctx context.Context) (bool, error) {
		evs, err := env.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=half,reason=Scheduled"})
		return err == nil && len(evs.Items) > 0, nil
	}, nil)

	// Nothing on Secrets, here or anywhere.
	for _, secretNS := range []string{saNS, ns, ""} {
		if _, err := sa.CoreV1().Secrets(secretNS).List(env.Ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("listing secrets in %q as %s/%s: %v, want Forbidden", secretNS, saNS, saName, err)
		}
	}

	// The scheduler never hit a permission it lacks.
	forbidden := regexp.MustCompile(`(?i)forbidden`)
	for _, line := range strings.Split(sched.Logs(), "\n") {
		if forbidden.MatchString(line) {
			t.Errorf("scheduler log: %s", line)
		}
	}
}
