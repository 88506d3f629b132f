//go:build unix

package controlplane

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

func startShell(t *testing.T, script string, onExit func(*Process, error)) *Process {
	t.Helper()
	p, err := StartProcess(ProcessOptions{
		Name: "sh", Path: "/bin/sh", Args: []string{"-c", script},
		LogPath: filepath.Join(t.TempDir(), "sh.log"), OnExit: onExit,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Kill() })
	return p
}

// A process that ends on its own is reported, with the end of its log; one we stop is not.
func TestProcessExit(t *testing.T) {
	exited := make(chan error, 1)
	p := startShell(t, "echo first; echo last words; exit 3", func(_ *Process, err error) { exited <- err })
	select {
	case err := <-exited:
		var ee *ExitError
		if !errors.As(err, &ee) || !strings.Contains(ee.Tail, "last words") || !strings.Contains(err.Error(), "exit status 3") {
			t.Fatalf("OnExit got %v, want an ExitError with exit status 3 and the log's last lines", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnExit not called")
	}
	if p.Err() == nil {
		t.Error("Err is nil after an unexpected exit")
	}

	called := make(chan error, 1)
	q := startShell(t, "trap '' TERM; echo ready; sleep 60", func(_ *Process, err error) { called <- err })
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(q.Logs(), "ready"); {
		if time.Now().After(deadline) {
			t.Fatal("the shell never got ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if q.Err() != nil {
		t.Fatalf("Err while running: %v", q.Err())
	}
	// SIGTERM is ignored: Stop falls back to SIGKILL and says so.
	if err := q.Stop(200 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Stop of a process ignoring SIGTERM: %v, want an error saying it was killed", err)
	}
	if !q.Exited() || q.Err() != nil {
		t.Errorf("after Stop: exited %v, Err %v; want exited and no error", q.Exited(), q.Err())
	}
	select {
	case err := <-called:
		t.Errorf("OnExit called for a stopped process: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestStartProcessMissingBinary(t *testing.T) {
	_, err := StartProcess(ProcessOptions{Name: "ghost", Path: "/nonexistent/ghost", LogPath: filepath.Join(t.TempDir(), "g.log")})
	if err == nil || !strings.Contains(err.Error(), "ghost") {
		t.Fatalf("got %v, want an error naming the process", err)
	}
}

func TestWriteSchedulerConfig(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "cfg.yaml")
	err = WriteSchedulerConfig(filepath.Join(root, "config", "scheduler-config.yaml"), dst, SchedulerConfigOptions{
		Kubeconfig: "/k", QPS: 7, LeaderElection: &LeaderElection{LeaseDuration: "3s", ResourceName: "r"},
	})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ClientConnection map[string]any `json:"clientConnection"`
		LeaderElection   map[string]any `json:"leaderElection"`
		Profiles         []any          `json:"profiles"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.ClientConnection["kubeconfig"] != "/k" || cfg.ClientConnection["qps"] != float64(7) {
		t.Errorf("clientConnection %v", cfg.ClientConnection)
	}
	if cfg.LeaderElection["leaderElect"] != true || cfg.LeaderElection["leaseDuration"] != "3s" || cfg.LeaderElection["resourceName"] != "r" {
		t.Errorf("leaderElection %v", cfg.LeaderElection)
	}
	if len(cfg.Profiles) == 0 {
		t.Error("profiles lost")
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("kind: Pod\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteSchedulerConfig(bad, dst, SchedulerConfigOptions{}); err == nil || !strings.Contains(err.Error(), "want KubeSchedulerConfiguration") {
		t.Errorf("a Pod as config: %v", err)
	}
}

func TestReadCRDs(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(root, "manifests", "crds", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no manifests/crds/*.yaml")
	}
	for _, f := range files {
		crds, err := readCRDs(f)
		if err != nil || len(crds) == 0 {
			t.Errorf("%s: %d CRDs, %v", f, len(crds), err)
		}
	}
	dir := t.TempDir()
	for name, body := range map[string]string{
		"pod.yaml":   "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n",
		"empty.yaml": "---\n",
		"junk.yaml":  "{{{",
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := readCRDs(path); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want an error naming the file", name, err)
		}
	}
}
