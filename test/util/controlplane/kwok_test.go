package controlplane

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// TestKWOKSmoke checks that StartKWOK (bin/kwok with bin/kwok-stages/stages.yaml, both from
// `make tools`) turns a fake Node Ready and a bound Pod Running, and that Stop is not reported as
// an unexpected exit.
func TestKWOKSmoke(t *testing.T) {
	binDir, err := DefaultBinDir()
	if err != nil {
		t.Fatal(err)
	}
	kwok, stages := KWOKFiles(binDir)
	for _, f := range []string{kwok, stages} {
		if _, err := os.Stat(f); err != nil {
			if os.Getenv(EnvRequire) == "" {
				t.Skipf("skipping: %s missing: run `make tools`", f)
			}
			t.Fatalf("%s missing: run `make tools` (%s is set)", f, EnvRequire)
		}
	}
	cp := StartForTest(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	exited := make(chan error, 1)
	p, err := cp.StartKWOK(filepath.Join(t.TempDir(), "kwok.log"), func(_ *Process, err error) { exited <- err })
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("kwok output:\n%s", p.Logs())
		}
		if err := p.Stop(10 * time.Second); err != nil {
			t.Error(err)
		}
		select {
		case err := <-exited:
			t.Errorf("a stopped kwok was reported as exiting on its own: %v", err)
		default:
		}
		if p.Err() != nil {
			t.Errorf("Err after Stop: %v", p.Err())
		}
	}()

	// One OS thread keeps kwok clear of easycel's unlocked map (StartKWOK says more). Right after
	// the exec the kernel may still show an empty environment: read until it shows one.
	var env []byte
	for deadline := time.Now().Add(5 * time.Second); len(env) == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if env, err = os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.Pid())); err != nil {
			break // no /proc (not Linux)
		}
	}
	if err == nil && !bytes.Contains(append([]byte{0}, env...), []byte("\x00GOMAXPROCS=1\x00")) {
		t.Errorf("kwok runs without GOMAXPROCS=1: environment %q", env)
	}

	c := cp.Client()
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "kwok-node-0", Labels: map[string]string{"type": "kwok"}},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourcePods: resource.MustParse("110"),
			"nvidia.com/gpu": resource.MustParse("4"),
		}, Capacity: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourcePods: resource.MustParse("110"),
			"nvidia.com/gpu": resource.MustParse("4"),
		}},
	}
	if _, err := c.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The Pod comes once kwok holds the node (Ready): a Pod event that reaches kwok before it holds
	// the node's lease is skipped as read-only, and kwok v0.8.0 may not look at it again.
	if err := cp.WaitNodesReady(ctx, 1); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceDefault, Name: "bound"},
		Spec:       corev1.PodSpec{NodeName: node.Name, Containers: []corev1.Container{{Name: "c", Image: "x"}}},
	}
	if _, err := c.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := c.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, err
	})
	if err != nil {
		t.Fatalf("pod never turned Running: %v", err)
	}
}
