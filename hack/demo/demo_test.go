package main

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/test/util/controlplane"
)

// envRequire runs the end-to-end test (as `make test` does after `make build tools`).
const envRequire = "GPU_SCHED_REQUIRE_CONTROLPLANE"

// row is one line of the demo's Pod table.
type row struct{ node, model, gpus, index, free string }

// TestDemoEndToEnd runs the whole demo (etcd, kube-apiserver, kwok, gpu-scheduler from bin/) on a free
// port and checks the table it prints.
func TestDemoEndToEnd(t *testing.T) {
	if os.Getenv(envRequire) == "" {
		t.Skipf("skipping: starts a control plane, KWOK and gpu-scheduler; set %s=1 (after `make build tools`)", envRequire)
	}
	port := freeTestPort(t)

	t.Run("port in use", func(t *testing.T) {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		var stdout, stderr lockedBuffer
		code := run(context.Background(), []string{"--port", strconv.Itoa(port), "--dir", t.TempDir()}, &stdout, &stderr)
		if code == 0 || !strings.Contains(stderr.String(), "--port") || !strings.Contains(stderr.String(), strconv.Itoa(port)) {
			t.Fatalf("exit %d, want non-zero and a message naming the port and --port; stderr:\n%s", code, stderr.String())
		}
	})

	// The runtime directory (logs) is kept if the test fails.
	dir, err := os.MkdirTemp("", "gpu-demo-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("runtime directory kept: %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr lockedBuffer
	start := time.Now()
	code := run(ctx, []string{"--port", strconv.Itoa(port), "--dir", dir, "--timeout", "3m"}, &stdout, &stderr)
	t.Logf("demo took %s; stderr:\n%s", time.Since(start).Round(100*time.Millisecond), stderr.String())
	t.Logf("stdout:\n%s", stdout.String())
	if code != 0 {
		t.Logf("last lines of gpu-scheduler.log:\n%s", controlplane.TailFile(filepath.Join(dir, "logs", "gpu-scheduler.log"), 30))
		t.Fatalf("demo exited %d", code)
	}

	rows, pending := parseReport(t, stdout.String())

	// Every Pod of manifests/examples/ is in the table.
	root, err := findRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	d := &demo{opts: options{root: root}, stderr: &lockedBuffer{}, start: time.Now()}
	pods, err := d.loadPods()
	if err != nil {
		t.Fatal(err)
	}
	examples := 0
	for _, p := range pods {
		if _, ok := rows[p.pod.Name]; !ok {
			t.Errorf("pod %s (%s) is not in the table", p.pod.Name, p.source)
		}
		if strings.HasPrefix(p.source, "manifests/examples/") {
			examples++
		}
	}
	if examples < 5 {
		t.Errorf("found %d example pods in manifests/examples, want at least 5", examples)
	}

	// The 16-GPU Pod cannot fit anywhere: Pending, and its event says why in GPU terms.
	if r := rows["too-big-16gpu"]; r.node != pendingNode {
		t.Errorf("too-big-16gpu is on %q, want %s", r.node, pendingNode)
	}
	if reason := pending["too-big-16gpu"]; !strings.Contains(reason, "GPUs") {
		t.Errorf("too-big-16gpu pending reason %q does not mention GPUs", reason)
	}
	// Everything else fits.
	for name, r := range rows {
		if name != "too-big-16gpu" && r.node == pendingNode {
			t.Errorf("pod %s is Pending: %s", name, pending[name])
		}
	}
	// InfiniBand Pods land on H100 nodes, the only ones with InfiniBand.
	for _, name := range []string{"infiniband-training-pod", "ib-training-4gpu"} {
		if r := rows[name]; r.model != "NVIDIA-H100-80GB-HBM3" {
			t.Errorf("%s is on %s (%s), want an H100 node", name, r.node, r.model)
		}
	}
	// Model constraints hold.
	if r := rows["t4-inference"]; r.model != "Tesla-T4" {
		t.Errorf("t4-inference is on %s (%s), want Tesla-T4", r.node, r.model)
	}
	if r := rows["model-constrained-pod"]; r.model != "NVIDIA-A100-SXM4-80GB" && r.model != "NVIDIA-H100-80GB-HBM3" {
		t.Errorf("model-constrained-pod is on %s (%s), want A100 or H100", r.node, r.model)
	}
	// The half-GPU pair shares one GPU.
	a, b := rows["half-gpu-a"], rows["half-gpu-b"]
	if a.gpus != "0.5" || b.gpus != "0.5" {
		t.Errorf("half pods request %q and %q, want 0.5", a.gpus, b.gpus)
	}
	if a.node == pendingNode || a.node != b.node || a.index == "-" || a.index != b.index {
		t.Errorf("half pods on %s GPU %s and %s GPU %s, want the same node and GPU", a.node, a.index, b.node, b.index)
	}

	// The InfiniBand gang is placed whole, on InfiniBand nodes of one fabric (both H100 nodes are in
	// fabric-1; see objects/nodes.yaml).
	for _, name := range []string{"ib-gang-worker-0", "ib-gang-worker-1"} {
		if r := rows[name]; r.model != "NVIDIA-H100-80GB-HBM3" || r.gpus != "2" {
			t.Errorf("gang member %s is on %s (%s) with %s GPUs, want an H100 node and 2", name, r.node, r.model, r.gpus)
		}
	}

	// Torn down: the apiserver port is free again and the pid files are gone.
	if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err != nil {
		t.Errorf("port %d still in use after the demo: %v", port, err)
	} else {
		_ = l.Close()
	}
	for _, f := range []string{"gpu-demo.pid", "gpu-scheduler.pid"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s left behind in %s (stat: %v)", f, dir, err)
		}
	}
}

// TestDevClusterSchedulerRestart: under `make dev-cluster` (--keep), stopping gpu-scheduler with
// the printed command leaves etcd, the apiserver and the nodes running; the printed restart command
// brings it back; the Pods bound before keep their nodes and GPUs, and a new GPU Pod is scheduled.
func TestDevClusterSchedulerRestart(t *testing.T) {
	if os.Getenv(envRequire) == "" {
		t.Skipf("skipping: starts a control plane, KWOK and gpu-scheduler; set %s=1 (after `make build tools`)", envRequire)
	}
	port := freeTestPort(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--keep", "--dra", "--port", strconv.Itoa(port), "--dir", dir, "--timeout", "3m"}, &stdout, &stderr)
	}()
	defer func() {
		if t.Failed() {
			t.Logf("stderr:\n%s\nstdout:\n%s", stderr.String(), stdout.String())
		}
	}()
	// waitOutput waits for substr in the demo's output, failing if the demo ends first.
	waitOutput := func(out *lockedBuffer, substr string, timeout time.Duration) {
		t.Helper()
		deadline := time.After(timeout)
		for !strings.Contains(out.String(), substr) {
			select {
			case code := <-done:
				t.Fatalf("dev cluster exited %d while waiting for %q", code, substr)
			case <-deadline:
				t.Fatalf("no %q after %s", substr, timeout)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	waitOutput(&stdout, restartHint, 4*time.Minute)
	stop, restart := hintLine(t, stdout.String(), stopHint), hintLine(t, stdout.String(), restartHint)
	// --dra: the report counts the DRA pool's GPUs from its ResourceSlices.
	if !regexp.MustCompile(`(?m)^gpu-b200-0\s+NVIDIA-B200\s+4 \(DRA\)\s+yes\s+\d`).MatchString(stdout.String()) {
		t.Errorf("the node table shows no DRA row for gpu-b200-0 (model, 4 devices, InfiniBand, free)")
	}

	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	client := kubernetes.NewForConfigOrDie(cfg)
	before := boundGPUPods(t, client)
	if len(before) < 5 {
		t.Fatalf("%d GPU Pods bound before the restart, want the demo's (at least 5)", len(before))
	}

	if out, err := exec.Command("sh", "-c", stop).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", stop, err, out)
	}
	waitOutput(&stderr, "gpu-scheduler exited", time.Minute)
	// The cluster is still up: the apiserver answers and every node is Ready.
	time.Sleep(2 * time.Second)
	select {
	case code := <-done:
		t.Fatalf("dev cluster exited %d after gpu-scheduler stopped", code)
	default:
	}
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("apiserver after gpu-scheduler stopped: %v", err)
	}
	for _, n := range nodes.Items {
		if !nodeReady(&n) {
			t.Errorf("node %s not Ready after gpu-scheduler stopped", n.Name)
		}
	}

	cmd := exec.Command("sh", "-c", restart)
	logPath := filepath.Join(dir, "restarted-scheduler.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", restart, err)
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("restarted gpu-scheduler:\n%s", controlplane.TailFile(logPath, 30))
		}
	}()

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceDefault, Name: "after-restart"},
		Spec: corev1.PodSpec{
			SchedulerName: "gpu-scheduler",
			// The demo's GPU nodes carry the device plugin's usual nvidia.com/gpu taint.
			Tolerations: []corev1.Toleration{{Key: gpu.ResourceName.String(), Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
			Containers: []corev1.Container{{Name: "c", Image: "x", Resources: corev1.ResourceRequirements{
				Limits: corev1.ResourceList{gpu.ResourceName: resource.MustParse("1")},
			}}},
		},
	}
	if _, err := client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bindCtx, cancelBind := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelBind()
	err = waitFor(bindCtx, "after-restart to be bound", 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		p, err := client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		return err == nil && p.Spec.NodeName != "", err
	})
	if err != nil {
		t.Fatal(err)
	}

	after := boundGPUPods(t, client)
	for name, was := range before {
		if now := after[name]; now != was {
			t.Errorf("pod %s was %q before the restart, %q after", name, was, now)
		}
	}
	if _, ok := after["default/after-restart"]; !ok {
		t.Error("after-restart is not among the bound GPU Pods")
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("dev cluster exited %d on cancel, want 0", code)
		}
	case <-time.After(time.Minute):
		t.Fatal("dev cluster did not stop within a minute of cancel")
	}
}

// hintLine returns the command on the output line starting with prefix.
func hintLine(t *testing.T, out, prefix string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			return strings.TrimSpace(rest)
		}
	}
	t.Fatalf("no line starting with %q", prefix)
	return ""
}

// boundGPUPods maps each bound Pod asking for GPUs (namespace/name) to its node and GPU index.
func boundGPUPods(t *testing.T, client kubernetes.Interface) map[string]string {
	t.Helper()
	pods, err := client.CoreV1().Pods(metav1.NamespaceAll).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range pods.Items {
		if p.Spec.NodeName == "" || requested(&p) == "0" {
			continue
		}
		out[p.Namespace+"/"+p.Name] = p.Spec.NodeName + " gpu " + p.Annotations[gpu.GPUIndexAnnotation]
	}
	return out
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// parseReport reads the Pod table (after the "POD" header, up to a blank line) and the Pending section.
func parseReport(t *testing.T, out string) (map[string]row, map[string]string) {
	t.Helper()
	rows := map[string]row{}
	pending := map[string]string{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "POD "):
			section = "pods"
			continue
		case line == "Pending:":
			section = "pending"
			continue
		case strings.TrimSpace(line) == "":
			section = ""
			continue
		}
		switch section {
		case "pods":
			f := strings.Fields(line)
			if len(f) != 6 {
				t.Fatalf("pod table line %q: want 6 columns", line)
			}
			rows[f[0]] = row{node: f[1], model: f[2], gpus: f[3], index: f[4], free: f[5]}
		case "pending":
			name, reason, ok := strings.Cut(strings.TrimSpace(line), ": ")
			if !ok {
				t.Fatalf("pending line %q: want <pod>: <reason>", line)
			}
			pending[name] = reason
		}
	}
	if len(rows) == 0 {
		t.Fatalf("no pod table in the output:\n%s", out)
	}
	return rows, pending
}

// TestObjects checks the embedded demo cluster and Pods decode and are what the demo claims.
func TestObjects(t *testing.T) {
	objs, err := decodeObjects(nodesYAML, "nodes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	models := map[string]int{}
	for _, o := range objs {
		n, ok := o.(*corev1.Node)
		if !ok {
			t.Fatalf("nodes.yaml holds a %T", o)
		}
		if n.Annotations["kwok.x-k8s.io/node"] != "fake" {
			t.Errorf("node %s lacks the kwok.x-k8s.io/node: fake annotation", n.Name)
		}
		q := n.Status.Allocatable[gpu.ResourceName]
		if m := n.Labels[gpu.DefaultModelLabel]; m != "" {
			models[m]++
			if q.IsZero() || n.Labels["nvidia.com/gpu.count"] != q.String() {
				t.Errorf("node %s: gpu.count label %q, allocatable %s", n.Name, n.Labels["nvidia.com/gpu.count"], q.String())
			}
		} else if !q.IsZero() {
			t.Errorf("node %s has GPUs but no model label", n.Name)
		}
		if (n.Labels[gpu.DefaultModelLabel] == "NVIDIA-H100-80GB-HBM3") != (n.Labels[interconnectLabelIB] == "true") {
			t.Errorf("node %s: InfiniBand should be on exactly the H100 nodes", n.Name)
		}
	}
	for _, m := range []string{"NVIDIA-H100-80GB-HBM3", "NVIDIA-A100-SXM4-80GB", "Tesla-T4", ""} {
		if m != "" && models[m] == 0 {
			t.Errorf("no %s node", m)
		}
	}
	checkDRAPool(t)
	objs, err = decodeObjects(podsYAML, "pods.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		p, ok := o.(*corev1.Pod)
		if !ok {
			t.Fatalf("pods.yaml holds a %T", o)
		}
		if p.Spec.SchedulerName != "gpu-scheduler" {
			t.Errorf("pod %s: schedulerName %q", p.Name, p.Spec.SchedulerName)
		}
		if _, err := gpu.PodDemand(p); err != nil {
			t.Errorf("pod %s: %v", p.Name, err)
		}
	}
}

func TestFreeGPUs(t *testing.T) {
	node := &corev1.Node{Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{gpu.ResourceName: resource.MustParse("4")}}}
	whole := func(n int64) *corev1.Pod {
		q := corev1.ResourceList{gpu.ResourceName: *resource.NewQuantity(n, resource.DecimalSI)}
		return &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Resources: corev1.ResourceRequirements{
			Requests: q, Limits: q}}}}}
	}
	share := func(frac, idx string) *corev1.Pod {
		a := map[string]string{gpu.FractionAnnotation: frac}
		if idx != "" {
			a[gpu.GPUIndexAnnotation] = idx
		}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: a}, Spec: corev1.PodSpec{Containers: []corev1.Container{{}}}}
	}
	for _, tc := range []struct {
		pods []*corev1.Pod
		want string
	}{
		{nil, "4"},
		{[]*corev1.Pod{whole(1)}, "3"},
		{[]*corev1.Pod{whole(1), share("0.5", "1")}, "2.5"},
		{[]*corev1.Pod{share("0.5", "0"), share("0.5", "0")}, "3"},
		{[]*corev1.Pod{share("0.25", "")}, "3"},
		{[]*corev1.Pod{whole(4)}, "0"},
	} {
		if got := freeGPUs(node, tc.pods); got != tc.want {
			t.Errorf("freeGPUs(%d pods) = %s, want %s", len(tc.pods), got, tc.want)
		}
	}
	if got := freeGPUs(&corev1.Node{}, nil); got != "-" {
		t.Errorf("freeGPUs(CPU node) = %s, want -", got)
	}
}

func freeTestPort(t *testing.T) int {
	t.Helper()
	p, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return p[0]
}

// TestFreePortsDistinct: ports picked together are distinct, however often the kernel would hand a
// just-closed port out again.
func TestFreePortsDistinct(t *testing.T) {
	for i := 0; i < 200; i++ {
		p, err := freePorts(3)
		if err != nil {
			t.Fatal(err)
		}
		if p[0] == p[1] || p[1] == p[2] || p[0] == p[2] {
			t.Fatalf("freePorts(3) = %v: not distinct", p)
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// checkDRAPool checks the --dra pool: nodes without GPU allocatable or GPU Feature Discovery labels,
// one ResourceSlice each of devices the DeviceClass (mapping nvidia.com/gpu) selects, with a model.
func checkDRAPool(t *testing.T) {
	t.Helper()
	objs, err := decodeObjects(draYAML, "dra.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var nodes, classes int
	devices := map[string]int{}
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Node:
			nodes++
			if q := o.Status.Allocatable[gpu.ResourceName]; !q.IsZero() || o.Labels[gpu.DefaultModelLabel] != "" {
				t.Errorf("DRA node %s has device-plugin GPUs or a model label", o.Name)
			}
		case *resourceapi.DeviceClass:
			classes++
			if o.Spec.ExtendedResourceName == nil || *o.Spec.ExtendedResourceName != string(gpu.ResourceName) {
				t.Errorf("DeviceClass %s does not map %s", o.Name, gpu.ResourceName)
			}
		case *resourceapi.ResourceSlice:
			for _, d := range o.Spec.Devices {
				if a := d.Attributes[gpu.ProductNameAttribute]; a.StringValue == nil || *a.StringValue == "" {
					t.Errorf("slice %s device %s has no productName", o.Name, d.Name)
				}
			}
			devices[*o.Spec.NodeName] += len(o.Spec.Devices)
		default:
			t.Errorf("dra.yaml holds a %T", o)
		}
	}
	if nodes == 0 || classes != 1 || len(devices) != nodes {
		t.Errorf("dra.yaml: %d nodes, %d DeviceClasses, slices for %d nodes; want one class and a slice per node", nodes, classes, len(devices))
	}
}
