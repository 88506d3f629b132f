package controlplane

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func TestControlPlane(t *testing.T) {
	cp := StartForTest(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The admin kubeconfig file works on its own (as kube-scheduler would use it).
	cfg, err := clientcmd.BuildConfigFromFlags("", cp.KubeconfigPath)
	if err != nil {
		t.Fatalf("loading %s: %v", cp.KubeconfigPath, err)
	}
	admin, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}

	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "gpu-node-0"},
		Status: corev1.NodeStatus{Capacity: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("8"),
			"nvidia.com/gpu":      resource.MustParse("4"),
			corev1.ResourcePods:   resource.MustParse("110"),
			corev1.ResourceMemory: resource.MustParse("32Gi"),
		}},
	}
	got, err := admin.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating node: %v", err)
	}
	// TaintNodesByCondition is disabled: no not-ready taint on a new node.
	if len(got.Spec.Taints) != 0 {
		t.Errorf("new node has taints %v; TaintNodesByCondition should be disabled", got.Spec.Taints)
	}

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceDefault, Name: "gpu-pod"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:  "main",
			Image: "example.invalid/cuda:latest",
			Resources: corev1.ResourceRequirements{
				Limits: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")},
			},
		}}},
	}
	if _, err := admin.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating pod: %v", err)
	}
	if p, err := cp.Client().CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{}); err != nil {
		t.Fatalf("getting pod: %v", err)
	} else if p.Spec.NodeName != "" {
		t.Errorf("pod unexpectedly bound to %q", p.Spec.NodeName)
	}

	// A TokenRequest-based kubeconfig authenticates as the ServiceAccount.
	saPath, _, err := cp.ServiceAccountKubeconfig(ctx, "gpu-system", "gpu-scheduler")
	if err != nil {
		t.Fatal(err)
	}
	saCfg, err := clientcmd.BuildConfigFromFlags("", saPath)
	if err != nil {
		t.Fatalf("loading %s: %v", saPath, err)
	}
	sa, err := kubernetes.NewForConfig(saCfg)
	if err != nil {
		t.Fatal(err)
	}
	review, err := sa.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SelfSubjectReview as serviceaccount: %v", err)
	}
	if want, got := "system:serviceaccount:gpu-system:gpu-scheduler", review.Status.UserInfo.Username; got != want {
		t.Errorf("serviceaccount kubeconfig authenticates as %q, want %q", got, want)
	}
	if _, err := sa.CoreV1().Secrets("gpu-system").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("listing secrets as an unbound serviceaccount: got %v, want Forbidden", err)
	}

	// A certificate user without bindings is authenticated but forbidden too.
	_, userCfg, err := cp.UserKubeconfig("alice", "dev")
	if err != nil {
		t.Fatal(err)
	}
	user := kubernetes.NewForConfigOrDie(userCfg)
	if _, err := user.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("listing nodes as alice: got %v, want Forbidden", err)
	}

	dir := cp.Dir
	if err := cp.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := cp.Stop(); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temp dir %s still present after Stop: %v", dir, err)
	}
}

func TestCheckBinariesMissing(t *testing.T) {
	dir := t.TempDir()
	apiServer := filepath.Join(dir, "kube-apiserver-1.37")
	err := CheckBinaries(dir, apiServer)
	if err == nil {
		t.Fatal("CheckBinaries on an empty dir: want error")
	}
	for _, want := range []string{"run `make tools`", filepath.Join(dir, "etcd"), apiServer} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// The apiserver binary comes from Options, else $GPU_SCHED_KUBE_APISERVER, else the bin dir: how
// `make test` runs the suite against a second apiserver minor.
func TestAPIServerPath(t *testing.T) {
	t.Setenv(EnvAPIServer, "")
	if p, _ := APIServerPath(Options{}, "/bin-dir"); p != "/bin-dir/kube-apiserver" {
		t.Errorf("default = %s, want /bin-dir/kube-apiserver", p)
	}
	t.Setenv(EnvAPIServer, "/other/kube-apiserver-1.37")
	if p, _ := APIServerPath(Options{}, "/bin-dir"); p != "/other/kube-apiserver-1.37" {
		t.Errorf("with $%s = %s, want /other/kube-apiserver-1.37", EnvAPIServer, p)
	}
	if p, _ := APIServerPath(Options{APIServerPath: "/opt/kube-apiserver"}, "/bin-dir"); p != "/opt/kube-apiserver" {
		t.Errorf("with Options.APIServerPath = %s, want /opt/kube-apiserver", p)
	}
}

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if !isRepoRoot(root) {
		t.Errorf("RepoRoot() = %s, which has no go.mod for %s", root, ModulePath)
	}
}
