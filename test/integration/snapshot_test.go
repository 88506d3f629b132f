package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim/cli"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim/trace"
	"github.com/gpu-scheduler/gpu-scheduler/test/integration/util"
)

// TestSnapshot runs `gpu-sim snapshot` against a cluster the daemon has placed Pods on: the
// snapshot holds every node and every running or pending Pod, and no Secret, env value or foreign
// annotation; replayed in creation order through the shipped profile, the bound Pods land where the
// daemon put them (the nodes differ in shape, so no placement is a tie). An unreachable cluster and
// a kubeconfig without list rights are errors that say so.
func TestSnapshot(t *testing.T) {
	env := util.NewEnv(t, util.EnvOptions{})
	ns := env.Namespace
	for _, spec := range shapedNodes {
		env.CreateNode(spec)
	}
	const secretValue, envValue = "hunter2-secret-data", "s3cr3t-env-value"
	if _, err := env.Client.CoreV1().Secrets(ns).Create(env.Ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		StringData: map[string]string{"password": secretValue}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sched := env.StartScheduler(util.SchedulerOptions{Name: "snapshot"})

	pods := sizedPods(ns, []int64{1, 2, 0, 4, 1, 2}, []string{"0.5", "0.25"})
	pods[0].Spec.Containers[0].Env = []corev1.EnvVar{{Name: "TOKEN", Value: envValue}}
	pods[0].Annotations = map[string]string{"example.com/owner": "alice"}
	daemon := map[string]string{}
	for _, p := range pods {
		env.CreatePod(p)
		daemon[p.Name] = env.WaitPodBound(ns, p.Name, bindTimeout, sched)
	}
	// A gang the daemon placed through Coscheduling: the snapshot carries its PodGroup, and whatif
	// places its members again together. Creation times have one-second resolution and the
	// snapshot orders Pods created in the same second by name: these names sort after the others.
	env.CreatePodGroup(ns, "gang", 2)
	members := sizedPods(ns, []int64{2, 2}, nil)
	for i, m := range members {
		m.Name, m.Labels = fmt.Sprintf("t-gang-%d", i), map[string]string{util.PodGroupLabel: "gang"}
		env.CreatePod(m)
	}
	for _, m := range members {
		daemon[m.Name] = env.WaitPodBound(ns, m.Name, bindTimeout, sched)
	}
	pods = append(pods, members...)
	env.CreatePod(util.GPUPod(ns, "z-too-big", 16)) // stays Pending
	finished := env.CreatePod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "z-done"},
		Spec: corev1.PodSpec{NodeName: "cpu", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}})
	finished.Status.Phase = corev1.PodSucceeded
	if _, err := env.Client.CoreV1().Pods(ns).UpdateStatus(env.Ctx, finished, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	out := t.TempDir()
	var stdout bytes.Buffer
	sum, err := cli.RunSnapshot(env.Ctx, &cli.SnapshotOptions{Kubeconfig: env.CP.KubeconfigPath, Namespace: ns, Out: out}, &stdout, "test")
	if err != nil {
		t.Fatal(err)
	}
	if sum.Nodes != 5 || sum.GPUTotal != 22 || sum.Bound != len(pods) || sum.Pending != 1 || sum.PendingGPU != 1 || sum.Skipped[trace.SkipFinished] != 1 || sum.PodGroups != 1 {
		t.Errorf("summary %+v: want 5 nodes, 22 GPUs, %d Pods bound, 1 pending asking for GPUs, 1 finished left out, 1 PodGroup", sum, len(pods))
	}
	if !strings.Contains(stdout.String(), "pods pending") {
		t.Errorf("stdout lacks the table:\n%s", stdout.String())
	}
	for _, f := range []string{cli.SnapshotClusterFile, cli.SnapshotWorkloadFile, cli.SnapshotSummaryFile} {
		data, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, leak := range []string{secretValue, envValue, "TOKEN", "alice"} {
			if bytes.Contains(data, []byte(leak)) {
				t.Errorf("%s holds %q", f, leak)
			}
		}
	}

	cluster, err := trace.LoadClusterYAML(filepath.Join(out, cli.SnapshotClusterFile))
	if err != nil {
		t.Fatal(err)
	}
	workload, err := trace.LoadWorkloadYAML(filepath.Join(out, cli.SnapshotWorkloadFile))
	if err != nil {
		t.Fatal(err)
	}
	profiles, err := sim.LoadProfiles(env.Path("config/scheduler-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(env.Ctx, profiles[0], cluster, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range workload {
		name := strings.TrimPrefix(p.Pod.Name, ns+".")
		if inGang := strings.HasPrefix(name, "t-gang-"); inGang != (p.Gang != nil) || inGang && p.Gang.MinMember != 2 {
			t.Errorf("%s: gang %+v", name, p.Gang)
		}
		live, ok := daemon[name]
		if !ok {
			continue // the pending Pod
		}
		placed, err := s.Schedule(p.Pod)
		if err != nil {
			t.Fatal(err)
		}
		if placed.Node != live {
			t.Errorf("%s: the daemon placed it on %s, the replay of the snapshot on %q", name, live, placed.Node)
		}
	}

	// gpu-sim replay takes the snapshot as it is, every profile side by side.
	replayOut := filepath.Join(out, "replay")
	var replayStdout, replayStderr bytes.Buffer
	if code := cli.Main(env.Ctx, []string{"replay", "--nodes", filepath.Join(out, cli.SnapshotClusterFile), "--pods", filepath.Join(out, cli.SnapshotWorkloadFile),
		"--config", env.Path("config/scheduler-config.yaml"), "--profiles", "gpu-scheduler,default", "--out", replayOut}, &replayStdout, &replayStderr, "test"); code != 0 {
		t.Fatalf("gpu-sim replay of the snapshot: exit %d\n%s", code, replayStderr.String())
	}
	if !strings.Contains(replayStdout.String(), "gpu-scheduler") || !strings.Contains(replayStdout.String(), "default") {
		t.Errorf("replay table lacks a profile:\n%s", replayStdout.String())
	}

	// gpu-sim whatif keeps the bound Pods where the daemon put them, and finds no room for the
	// 16-GPU Pod on any node.
	whatifOut := filepath.Join(out, "whatif")
	if code := cli.Main(env.Ctx, []string{"whatif", "--nodes", filepath.Join(out, cli.SnapshotClusterFile), "--pods", filepath.Join(out, cli.SnapshotWorkloadFile),
		"--config", env.Path("config/scheduler-config.yaml"), "--profiles", "gpu-scheduler", "--out", whatifOut}, &replayStdout, &replayStderr, "test"); code != 0 {
		t.Fatalf("gpu-sim whatif of the snapshot: exit %d\n%s", code, replayStderr.String())
	}
	var whatif cli.WhatIfSummary
	if data, err := os.ReadFile(filepath.Join(whatifOut, cli.WhatIfSummaryFile)); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(data, &whatif); err != nil {
		t.Fatal(err)
	}
	if r := whatif.Runs[0]; r.Kept != len(pods) || r.WithoutRoom != 0 || r.KeptAgainstPolicy != 0 || r.PendingGPU != 1 || r.PendingGPUPlaced != 0 || r.Replaced != len(pods) {
		t.Errorf("whatif %+v: want the %d bound Pods kept and placed again from empty, the pending 16-GPU Pod nowhere", r, len(pods))
	}

	// A cluster nobody answers for, and one whose kubeconfig may not list Pods.
	dead := filepath.Join(t.TempDir(), "dead.kubeconfig")
	kc, err := os.ReadFile(env.CP.KubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(env.CP.Config.Host, "https://")
	if err := os.WriteFile(dead, bytes.ReplaceAll(kc, []byte(host), []byte("127.0.0.1:1")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.RunSnapshot(env.Ctx, &cli.SnapshotOptions{Kubeconfig: dead, Out: t.TempDir()}, &stdout, "test"); err == nil ||
		!strings.Contains(err.Error(), "listing nodes at https://127.0.0.1:1") {
		t.Errorf("unreachable cluster: %v, want an error naming the server", err)
	}
	saKubeconfig, _, err := env.CP.ServiceAccountKubeconfig(env.Ctx, ns, "no-rights")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.RunSnapshot(env.Ctx, &cli.SnapshotOptions{Kubeconfig: saKubeconfig, Out: t.TempDir()}, &stdout, "test"); err == nil ||
		!strings.Contains(err.Error(), "listing nodes") || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("kubeconfig without list rights: %v, want a forbidden error on listing nodes", err)
	}
}
