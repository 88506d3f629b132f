package controlplane

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// KWOKFiles are the kwok binary and its stages (`make tools` builds both) in binDir.
func KWOKFiles(binDir string) (binary, stages string) {
	return filepath.Join(binDir, "kwok"), filepath.Join(binDir, "kwok-stages", "stages.yaml")
}

// StartKWOK starts kwok managing every node, with the admin kubeconfig: it turns new Nodes Ready
// and bound Pods Running. Its output goes to logPath; onExit is as in ProcessOptions.
//
// kwok runs on one OS thread (GOMAXPROCS=1): kwok v0.8.0 initialises its stages' CEL environments
// lazily from several controllers at once, and github.com/wzshiming/easycel v0.6.0 (the newest)
// fills a package-level map without a lock, which can crash kwok with "concurrent map writes" when
// a node and a Pod arrive together. One thread makes that interleaving rare; the demo's few nodes
// and Pods need no more.
func (c *ControlPlane) StartKWOK(logPath string, onExit func(*Process, error)) (*Process, error) {
	bin, stages := KWOKFiles(c.BinDir)
	return StartProcess(ProcessOptions{
		Name: "kwok",
		Path: bin,
		Args: []string{
			"--kubeconfig=" + c.KubeconfigPath,
			"--config=" + stages,
			"--manage-all-nodes=true",
			"--node-lease-duration-seconds=40",
		},
		Env:     []string{"GOMAXPROCS=1"},
		LogPath: logPath,
		OnExit:  onExit,
	})
}

// WaitNodesReady waits until at least want Nodes are Ready.
func (c *ControlPlane) WaitNodesReady(ctx context.Context, want int) error {
	ready := 0
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		nodes, err := c.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		ready = 0
		for _, n := range nodes.Items {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready >= want, nil
	})
	if err != nil {
		return fmt.Errorf("controlplane: waiting for %d Ready nodes (%d so far): %w", want, ready, context.Cause(ctx))
	}
	return nil
}
