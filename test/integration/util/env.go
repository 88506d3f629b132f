// Package util runs gpu-scheduler's integration tests: a real etcd + kube-apiserver per test
// (test/util/controlplane), the real bin/gpu-scheduler as a subprocess, and helpers to create nodes
// and Pods, wait for conditions and read what the scheduler wrote to the API.
package util

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/gpu-scheduler/gpu-scheduler/test/util/controlplane"
)

const (
	// SchedulerName is the profile gpu-scheduler serves.
	SchedulerName = "gpu-scheduler"

	// PollInterval is how often the Wait helpers look again.
	PollInterval = 100 * time.Millisecond
)

// Env is one test's control plane, admin client and namespace.
type Env struct {
	T         testing.TB
	CP        *controlplane.ControlPlane
	Client    kubernetes.Interface
	Namespace string
	RepoRoot  string
	// LogDir holds the scheduler logs of this test.
	LogDir string
	// Ctx is cancelled when the test ends.
	Ctx context.Context

	schedulers int
	// podGroupCRD is set once InstallPodGroupCRD has installed the PodGroup CRD.
	podGroupCRD bool
}

// EnvOptions configures NewEnv.
type EnvOptions struct {
	// Namespace to create for the test's Pods. Default "it".
	Namespace string
	// ControlPlane options, e.g. extra kube-apiserver flags.
	ControlPlane controlplane.Options
}

// RequireBinaries skips the test when etcd, kube-apiserver or gpu-scheduler is missing, or fails it
// when $GPU_SCHED_REQUIRE_CONTROLPLANE is set.
func RequireBinaries(t testing.TB, opts controlplane.Options) {
	t.Helper()
	var problems []string
	if err := controlplane.Available(opts); err != nil {
		problems = append(problems, err.Error())
	}
	bin, err := controlplane.SchedulerBinary("")
	if err != nil {
		problems = append(problems, err.Error())
	} else if st, err := os.Stat(bin); err != nil || st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		problems = append(problems, fmt.Sprintf("%s missing or not executable: run `make build`", bin))
	}
	if len(problems) == 0 {
		return
	}
	msg := strings.Join(problems, "; ")
	if os.Getenv(controlplane.EnvRequire) == "" {
		t.Skipf("skipping: %s (set %s=1 to make this a failure)", msg, controlplane.EnvRequire)
	}
	t.Fatalf("%s (%s is set)", msg, controlplane.EnvRequire)
}

// NewEnv starts a control plane for the test (stopped at its end) and creates the namespace.
func NewEnv(t testing.TB, opts EnvOptions) *Env {
	t.Helper()
	RequireBinaries(t, opts.ControlPlane)
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cp := controlplane.StartForTest(t, opts.ControlPlane)
	t.Logf("control plane up in %v at %s", time.Since(start).Round(time.Millisecond), cp.Host())
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e := &Env{
		T:         t,
		CP:        cp,
		Client:    cp.Client(),
		Namespace: opts.Namespace,
		RepoRoot:  root,
		LogDir:    logDir(t),
		Ctx:       ctx,
	}
	if e.Namespace == "" {
		e.Namespace = "it"
	}
	e.CreateNamespace(e.Namespace)
	return e
}

// logDir is $GPU_SCHED_IT_LOG_DIR/<test> when set (kept after the test), else a temporary directory.
func logDir(t testing.TB) string {
	base := os.Getenv("GPU_SCHED_IT_LOG_DIR")
	if base == "" {
		return t.TempDir()
	}
	dir := filepath.Join(base, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Path returns a path under the repository root.
func (e *Env) Path(rel string) string { return filepath.Join(e.RepoRoot, rel) }

// CreateNamespace creates a namespace and waits for nothing: namespaces are usable at once.
func (e *Env) CreateNamespace(name string) {
	e.T.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := e.Client.CoreV1().Namespaces().Create(e.Ctx, ns, metav1.CreateOptions{}); err != nil {
		e.T.Fatalf("creating namespace %s: %v", name, err)
	}
}

// Wait polls cond every PollInterval until it returns true, and fails the test if that takes longer
// than timeout. what describes the awaited condition; status, if not nil, describes the last state
// seen, for the failure message. An error from cond fails the test at once.
func (e *Env) Wait(what string, timeout time.Duration, cond func(ctx context.Context) (bool, error), status func() string) time.Duration {
	e.T.Helper()
	start := time.Now()
	err := wait.PollUntilContextTimeout(e.Ctx, PollInterval, timeout, true, cond)
	if err != nil {
		msg := fmt.Sprintf("waiting %v for %s: %v", timeout, what, err)
		if status != nil {
			msg += "; last seen: " + status()
		}
		e.T.Fatal(msg)
	}
	return time.Since(start)
}

// Consistently polls cond every PollInterval for d and fails the test the first time it is false.
func (e *Env) Consistently(what string, d time.Duration, cond func(ctx context.Context) (bool, string, error)) {
	e.T.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, state, err := cond(e.Ctx)
		if err != nil {
			e.T.Fatalf("checking that %s: %v", what, err)
		}
		if !ok {
			e.T.Fatalf("expected %s for %v, but: %s", what, d, state)
		}
		if time.Now().After(deadline) {
			return
		}
		select {
		case <-e.Ctx.Done():
			e.T.Fatalf("checking that %s: %v", what, e.Ctx.Err())
		case <-time.After(PollInterval):
		}
	}
}
