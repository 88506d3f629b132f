package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gpu-scheduler/gpu-scheduler/test/util/controlplane"
)

const (
	schedulerConfig = "config/scheduler-config.yaml" // relative to the repository root
	// stopGrace is how long each process gets between SIGTERM and SIGKILL.
	stopGrace = 10 * time.Second
	// schedulerReadyTimeout bounds gpu-scheduler's start (informers synced): seconds when all is well.
	schedulerReadyTimeout = 90 * time.Second
)

// demo is one run: the processes it started and how to reach the cluster.
type demo struct {
	opts           options
	stdout, stderr io.Writer
	start          time.Time

	binDir  string
	ownsDir bool                       // the runtime directory is this run's: teardown cleans it
	cp      *controlplane.ControlPlane // etcd and kube-apiserver
	procs   []*controlplane.Process    // kwok and gpu-scheduler, in start order; stopped in reverse

	// schedulerArgs is how gpu-scheduler was started, from the repository root: the restart command
	// --keep prints.
	schedulerArgs []string
	// up is set once the cluster is up and, with --keep, the instructions are printed: from then on
	// gpu-scheduler may stop and be restarted by hand without stopping the cluster.
	up atomic.Bool

	// failed is set when the demo failed on its own (a process died, a step failed), as opposed to
	// being interrupted.
	failed bool
	// crash cancels the run when a process exits on its own.
	crash context.CancelCauseFunc

	apiURL          string
	adminKubeconfig string
	restConfig      *rest.Config
	client          kubernetes.Interface
	logMu           sync.Mutex
}

// logf writes a progress line to stderr: wall clock and time since start.
func (d *demo) logf(format string, args ...any) {
	d.logMu.Lock()
	defer d.logMu.Unlock()
	fmt.Fprintf(d.stderr, "%s +%5.1fs  %s\n", time.Now().Format("15:04:05"), time.Since(d.start).Seconds(),
		fmt.Sprintf(format, args...))
}

// run brings the cluster up, runs the workload, prints the report and, with --keep, waits for a
// signal. The caller tears down.
func (d *demo) run(parent context.Context) (err error) {
	defer func() {
		if err != nil && parent.Err() == nil {
			d.failed = true
		}
	}()
	ctx, crash := context.WithCancelCause(parent)
	defer crash(nil)
	d.crash = crash
	setupCtx, cancel := context.WithTimeoutCause(ctx, d.opts.timeout,
		fmt.Errorf("timed out after %s (--timeout)", d.opts.timeout))
	defer cancel()

	if err := d.prepare(); err != nil {
		return err
	}
	if err := d.startControlPlane(setupCtx); err != nil {
		return err
	}
	if err := d.startKWOK(); err != nil {
		return err
	}
	if err := d.installCRDs(setupCtx); err != nil {
		return err
	}
	nodes, err := d.createNodes(setupCtx)
	if err != nil {
		return err
	}
	schedPort, err := d.startScheduler()
	if err != nil {
		return err
	}
	if err := d.waitNodesReady(setupCtx, len(nodes)); err != nil {
		return err
	}
	if err := d.waitSchedulerReady(setupCtx, schedPort); err != nil {
		return err
	}
	d.logf("cluster up: %d nodes, gpu-scheduler ready", len(nodes))

	var pods []podResult
	if d.opts.pods {
		if pods, err = d.runWorkload(setupCtx); err != nil {
			return err
		}
		gang, err := d.runGang(setupCtx)
		if err != nil {
			return err
		}
		pods = append(pods, gang...)
		if err := d.report(setupCtx, pods); err != nil {
			return err
		}
	}
	if !d.opts.keep {
		return nil
	}
	cancel() // --timeout covers the start-up only
	d.up.Store(true)
	d.printHints()
	<-ctx.Done()
	if parent.Err() != nil {
		d.logf("signal received, stopping the dev cluster")
		return parent.Err()
	}
	return context.Cause(ctx)
}

// prepare checks the binaries and the port and makes a fresh runtime directory.
func (d *demo) prepare() error {
	o := &d.opts
	if o.root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		if o.root, err = findRoot(wd); err != nil {
			return err
		}
	}
	o.root, _ = filepath.Abs(o.root)
	if o.dir == "" {
		o.dir = filepath.Join(o.root, "_output", "dev-cluster")
	}
	o.dir, _ = filepath.Abs(o.dir)
	d.binDir = os.Getenv("GPU_SCHED_BIN_DIR")
	if d.binDir == "" {
		d.binDir = filepath.Join(o.root, "bin")
	}
	d.binDir, _ = filepath.Abs(d.binDir)

	apiServer, err := controlplane.APIServerPath(controlplane.Options{}, d.binDir)
	if err != nil {
		return err
	}
	kwok, stages := controlplane.KWOKFiles(d.binDir)
	sched, _ := controlplane.SchedulerBinary(d.binDir)
	var problems []string
	if err := controlplane.CheckBinaries(d.binDir, apiServer); err != nil {
		problems = append(problems, err.Error())
	}
	for _, f := range []string{kwok, stages, sched} {
		if st, err := os.Stat(f); err != nil || st.IsDir() {
			problems = append(problems, f+" missing")
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: run `make build tools` first", strings.Join(problems, "; "))
	}
	if _, err := os.Stat(filepath.Join(o.root, schedulerConfig)); err != nil {
		return fmt.Errorf("scheduler config: %w", err)
	}

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(o.port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot use %s for kube-apiserver: %v. Another dev cluster (`make dev-cluster`) "+
			"or kube-apiserver may be running: stop it, or pass --port to use another port", addr, err)
	}
	_ = l.Close()

	// A fresh directory every run: the previous run's etcd data and certificates are stale. Unless
	// another demo (on another --port) still uses it.
	pidFile := filepath.Join(o.dir, "gpu-demo.pid")
	if data, err := os.ReadFile(pidFile); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid != os.Getpid() && demoRunning(pid) {
			return fmt.Errorf("%s is in use by another gpu-demo (pid %d): stop it, or pass --dir", o.dir, pid)
		}
	}
	if err := os.RemoveAll(o.dir); err != nil {
		return fmt.Errorf("cleaning %s: %w", o.dir, err)
	}
	for _, sub := range []string{"logs", "auth"} {
		if err := os.MkdirAll(filepath.Join(o.dir, sub), 0o700); err != nil {
			return err
		}
	}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		return err
	}
	d.ownsDir = true
	d.logf("runtime directory %s (logs in logs/)", o.dir)
	return nil
}

// onExit cancels the run when a process it started exits on its own, except gpu-scheduler once a
// --keep cluster is up: the user may stop and restart it by hand.
func (d *demo) onExit(p *controlplane.Process, err error) {
	if p.Name == "gpu-scheduler" && d.opts.keep && d.up.Load() {
		d.logf("gpu-scheduler exited (%v); the cluster keeps running. Start it again with:\n  %s", errors.Unwrap(err), d.restartCommand())
		return
	}
	d.crash(err)
}

// teardown stops kwok and gpu-scheduler in reverse start order, then the control plane (which
// removes its etcd data). Logs stay.
func (d *demo) teardown() error {
	if !d.ownsDir {
		return nil
	}
	var errs []error
	if len(d.procs) > 0 || d.cp != nil {
		d.logf("stopping")
	}
	for i := len(d.procs) - 1; i >= 0; i-- {
		if err := d.procs[i].Stop(stopGrace); err != nil {
			errs = append(errs, err)
		}
	}
	d.procs = nil
	if d.cp != nil {
		if err := d.cp.Stop(); err != nil {
			errs = append(errs, err)
		}
		d.cp = nil
	}
	for _, f := range []string{"gpu-demo.pid", "gpu-scheduler.pid"} {
		if err := os.RemoveAll(filepath.Join(d.opts.dir, f)); err != nil {
			errs = append(errs, err)
		}
	}
	d.ownsDir = false
	if len(errs) == 0 {
		d.logf("stopped; logs kept in %s", filepath.Join(d.opts.dir, "logs"))
	}
	return errors.Join(errs...)
}

// startControlPlane starts etcd and kube-apiserver on --port, with the static token of
// config/local-kubeconfig.yaml (gpu-scheduler's) as a cluster admin, and writes the admin
// kubeconfig to the runtime directory.
func (d *demo) startControlPlane(ctx context.Context) error {
	dir := d.opts.dir
	schedToken, err := localKubeconfigToken(filepath.Join(d.opts.root, "config", "local-kubeconfig.yaml"))
	if err != nil {
		return err
	}
	tokenFile := filepath.Join(dir, "auth", "tokens.csv")
	tokens := fmt.Sprintf("%s,gpu-scheduler-dev,gpu-scheduler-dev,\"system:masters\"\n", schedToken)
	if err := os.WriteFile(tokenFile, []byte(tokens), 0o600); err != nil {
		return err
	}
	d.cp, err = controlplane.Start(ctx, controlplane.Options{
		BinDir:        d.binDir,
		SecurePort:    d.opts.port,
		LogDir:        filepath.Join(dir, "logs"),
		APIServerArgs: map[string][]string{"token-auth-file": {tokenFile}, "profiling": {"false"}},
	})
	if err != nil {
		return err
	}
	d.apiURL = strings.TrimSuffix(d.cp.Host(), "/")
	d.restConfig = d.cp.Config
	d.client = d.cp.Client()
	if d.adminKubeconfig, err = d.cp.WriteKubeconfig(filepath.Join(dir, "kubeconfig"), d.cp.Config); err != nil {
		return err
	}
	d.logf("etcd and kube-apiserver ready on %s; admin kubeconfig %s", d.apiURL, d.adminKubeconfig)
	return nil
}

// startKWOK starts kwok, managing every node.
func (d *demo) startKWOK() error {
	p, err := d.cp.StartKWOK(filepath.Join(d.opts.dir, "logs", "kwok.log"), d.onExit)
	if err != nil {
		return err
	}
	d.procs = append(d.procs, p)
	d.logf("kwok started (--manage-all-nodes)")
	return nil
}

// installCRDs creates the CRDs of manifests/crds/ (the PodGroup CRD Coscheduling watches).
func (d *demo) installCRDs(ctx context.Context) error {
	files, err := filepath.Glob(filepath.Join(d.opts.root, "manifests", "crds", "*.yaml"))
	if err != nil {
		return err
	}
	names, err := d.cp.InstallCRDs(ctx, files...)
	if err == nil {
		d.logf("installed CRDs from manifests/crds: %v", names)
	}
	return err
}

// startScheduler starts gpu-scheduler with config/scheduler-config.yaml from the repository root.
// If the apiserver is not where config/local-kubeconfig.yaml points (--port), it runs a copy of the
// config whose clientConnection.kubeconfig points at a copy of that kubeconfig with the right port.
// It returns the port of its /readyz endpoint.
func (d *demo) startScheduler() (int, error) {
	cfgPath := schedulerConfig
	local := filepath.Join(d.opts.root, "config", "local-kubeconfig.yaml")
	server, err := localKubeconfigServer(local)
	if err != nil {
		return 0, err
	}
	if strings.TrimSuffix(server, "/") != d.apiURL {
		if cfgPath, err = d.schedulerConfigForPort(local); err != nil {
			return 0, err
		}
		d.logf("apiserver is not at %s (config/local-kubeconfig.yaml): using generated %s", server, cfgPath)
	}
	ports, err := freePorts(1)
	if err != nil {
		return 0, err
	}
	port := ports[0]
	const verbosity = 2
	p, err := controlplane.StartScheduler(controlplane.SchedulerOptions{
		BinDir:     d.binDir,
		Config:     cfgPath,
		Dir:        d.opts.root,
		LogPath:    filepath.Join(d.opts.dir, "logs", "gpu-scheduler.log"),
		Verbosity:  verbosity,
		SecurePort: port,
		OnExit:     d.onExit,
	})
	if err != nil {
		return 0, err
	}
	d.procs = append(d.procs, p)
	d.schedulerArgs = controlplane.SchedulerArgs(cfgPath, port, verbosity)
	if err := os.WriteFile(d.schedulerPidFile(), []byte(strconv.Itoa(p.Pid())+"\n"), 0o600); err != nil {
		return 0, err
	}
	d.logf("gpu-scheduler started (pid %d): bin/gpu-scheduler --config %s", p.Pid(), cfgPath)
	return port, nil
}

// schedulerPidFile holds the pid of the gpu-scheduler the demo started.
func (d *demo) schedulerPidFile() string { return filepath.Join(d.opts.dir, "gpu-scheduler.pid") }

// restartCommand is a shell command that starts gpu-scheduler again as the demo did, in the
// foreground.
func (d *demo) restartCommand() string {
	bin, _ := controlplane.SchedulerBinary(d.binDir)
	return fmt.Sprintf("(cd %s && %s %s)", d.opts.root, bin, strings.Join(d.schedulerArgs, " "))
}

// schedulerConfigForPort writes copies of the local kubeconfig (server on --port) and of the
// scheduler config (pointing at that kubeconfig) to the runtime directory.
func (d *demo) schedulerConfigForPort(localKubeconfig string) (string, error) {
	kc, err := clientcmd.LoadFromFile(localKubeconfig)
	if err != nil {
		return "", err
	}
	for _, c := range kc.Clusters {
		c.Server = d.apiURL
	}
	kcPath := filepath.Join(d.opts.dir, "scheduler.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, kcPath); err != nil {
		return "", err
	}
	path := filepath.Join(d.opts.dir, "scheduler-config.yaml")
	err = controlplane.WriteSchedulerConfig(filepath.Join(d.opts.root, schedulerConfig), path,
		controlplane.SchedulerConfigOptions{Kubeconfig: kcPath})
	return path, err
}

func (d *demo) waitNodesReady(ctx context.Context, want int) error {
	if err := d.cp.WaitNodesReady(ctx, want); err != nil {
		return err
	}
	d.logf("%d nodes Ready (kwok)", want)
	return nil
}

func (d *demo) waitSchedulerReady(ctx context.Context, port int) error {
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 5 * time.Second} // #nosec G402 -- loopback, self-signed
	url := fmt.Sprintf("https://127.0.0.1:%d/readyz", port)
	ctx, cancel := context.WithTimeoutCause(ctx, schedulerReadyTimeout,
		fmt.Errorf("not ready after %s (its log: %s)", schedulerReadyTimeout, filepath.Join(d.opts.dir, "logs", "gpu-scheduler.log")))
	defer cancel()
	return waitFor(ctx, "gpu-scheduler "+url, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		body, code, err := httpGet(ctx, hc, url+"?verbose", "")
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("readyz %d: %s", code, failedChecks(body))
		}
		return err == nil, err
	})
}

func httpGet(ctx context.Context, c *http.Client, url, token string) (string, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return string(body), resp.StatusCode, err
}

// freePorts returns n distinct TCP ports on 127.0.0.1 that were free a moment ago. Every listener
// stays open until all are picked: one closed before the next is asked for may be handed out again
// (etcd's client and peer ports once came back equal, and etcd failed to bind the second).
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// localKubeconfigToken returns the bearer token of the current context of the dev kubeconfig.
func localKubeconfigToken(path string) (string, error) {
	kc, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return "", err
	}
	c := kc.Contexts[kc.CurrentContext]
	if c == nil || kc.AuthInfos[c.AuthInfo] == nil || kc.AuthInfos[c.AuthInfo].Token == "" {
		return "", fmt.Errorf("%s: its current context has no user with a static token", path)
	}
	tok := kc.AuthInfos[c.AuthInfo].Token
	if strings.ContainsAny(tok, ",\"\n") {
		return "", fmt.Errorf("%s: token contains characters a token file cannot hold", path)
	}
	return tok, nil
}

// localKubeconfigServer returns the server of the current context of the dev kubeconfig.
func localKubeconfigServer(path string) (string, error) {
	kc, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return "", err
	}
	c := kc.Contexts[kc.CurrentContext]
	if c == nil || kc.Clusters[c.Cluster] == nil {
		return "", fmt.Errorf("%s: no cluster for its current context", path)
	}
	return kc.Clusters[c.Cluster].Server, nil
}

// demoRunning reports whether pid is a live gpu-demo (go run names the binary "demo", tests
// "demo.test"). Where the command line cannot be read, a live process counts.
func demoRunning(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil || p.Signal(syscall.Signal(0)) != nil {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err != nil || bytes.Contains(cmdline, []byte("demo"))
}

// failedChecks picks the failed checks ("[-]...") out of a verbose /readyz body.
func failedChecks(body string) string {
	var failed []string
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "[-]") {
			failed = append(failed, strings.TrimSpace(line))
		}
	}
	if len(failed) == 0 {
		return strings.TrimSpace(body)
	}
	return strings.Join(failed, "; ")
}

// waitFor polls cond every interval until it returns true, returns an error, or ctx ends; what
// names the condition in the error.
func waitFor(ctx context.Context, what string, interval time.Duration, cond func(context.Context) (bool, error)) error {
	var lastErr error
	for {
		ok, err := cond(ctx)
		if err != nil {
			lastErr = err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			cause := context.Cause(ctx)
			if ee := (*controlplane.ExitError)(nil); errors.As(cause, &ee) {
				return cause // says itself what went wrong
			}
			if lastErr != nil && !errors.Is(cause, context.Canceled) {
				return fmt.Errorf("waiting for %s: %w (last error: %v)", what, cause, lastErr)
			}
			return fmt.Errorf("waiting for %s: %w", what, cause)
		case <-time.After(interval):
		}
	}
}
