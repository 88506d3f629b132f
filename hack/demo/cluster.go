package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
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
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"
)

const (
	schedulerConfig = "config/scheduler-config.yaml" // relative to the repository root
	// serviceCIDR is the apiserver's service range; its first address is the kubernetes Service.
	serviceCIDR = "10.96.0.0/16"
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
	ownsDir bool    // the runtime directory is this run's: teardown cleans it
	procs   []*proc // in start order; stopped in reverse

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
	if err := d.installCRDs(setupCtx, d.restConfig); err != nil {
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

	var missing []string
	for _, f := range []string{"etcd", "kube-apiserver", "kwok", "kwok-stages/stages.yaml", "gpu-scheduler"} {
		st, err := os.Stat(filepath.Join(d.binDir, f))
		if err != nil || st.IsDir() || (!strings.HasSuffix(f, ".yaml") && st.Mode().Perm()&0o111 == 0) {
			missing = append(missing, filepath.Join(d.binDir, f))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing: %s: run `make build tools` first", strings.Join(missing, ", "))
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
	for _, sub := range []string{"logs", "etcd-data", "pki"} {
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

// startProc starts bin/<bin> from the repository root and registers it for teardown; if it exits on
// its own the run is cancelled with its log tail.
func (d *demo) startProc(name, bin string, args ...string) (*proc, error) {
	p, err := startProc(name, filepath.Join(d.binDir, bin), d.opts.root, filepath.Join(d.opts.dir, "logs"), args,
		func(p *proc, err error) { d.crash(exitError(p, err)) })
	if err != nil {
		return nil, err
	}
	d.procs = append(d.procs, p)
	return p, nil
}

// teardown stops every process in reverse start order and removes the etcd data. Logs stay.
func (d *demo) teardown() error {
	if !d.ownsDir {
		return nil
	}
	var errs []error
	if len(d.procs) > 0 {
		d.logf("stopping %d processes", len(d.procs))
		for i := len(d.procs) - 1; i >= 0; i-- {
			if err := d.procs[i].stop(stopGrace); err != nil {
				errs = append(errs, err)
			}
		}
		d.procs = nil
	}
	for _, f := range []string{"etcd-data", "gpu-demo.pid"} {
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

// startControlPlane starts etcd and kube-apiserver and writes the admin kubeconfig.
func (d *demo) startControlPlane(ctx context.Context) error {
	dir := d.opts.dir
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	if _, err := d.startProc("etcd", "etcd",
		"--name=default",
		"--data-dir="+filepath.Join(dir, "etcd-data"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--unsafe-no-fsync=true", // a throw-away cluster: no fsync, much faster on a busy disk
		"--log-level=warn"); err != nil {
		return err
	}
	err = waitFor(ctx, "etcd at "+etcdURL, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		body, code, err := httpGet(ctx, http.DefaultClient, etcdURL+"/health", "")
		return err == nil && code == http.StatusOK && strings.Contains(body, `"true"`), err
	})
	if err != nil {
		return err
	}
	d.logf("etcd ready on %s", etcdURL)

	_, svcNet, _ := net.ParseCIDR(serviceCIDR)
	svcIP := append(net.IP(nil), svcNet.IP.To4()...)
	svcIP[3]++
	p, err := writePKI(filepath.Join(dir, "pki"), svcIP)
	if err != nil {
		return fmt.Errorf("generating certificates: %w", err)
	}

	// Static tokens: the one in config/local-kubeconfig.yaml (gpu-scheduler reads it) and a fresh
	// admin token for the kubeconfig in the runtime directory. Both are cluster admins: this
	// throw-away cluster has no other users.
	schedToken, err := localKubeconfigToken(filepath.Join(d.opts.root, "config", "local-kubeconfig.yaml"))
	if err != nil {
		return err
	}
	adminToken := randomToken()
	tokenFile := filepath.Join(dir, "pki", "tokens.csv")
	tokens := fmt.Sprintf("%s,gpu-scheduler-dev,gpu-scheduler-dev,\"system:masters\"\n%s,dev-admin,dev-admin,\"system:masters\"\n",
		schedToken, adminToken)
	if err := os.WriteFile(tokenFile, []byte(tokens), 0o600); err != nil {
		return err
	}

	d.apiURL = fmt.Sprintf("https://127.0.0.1:%d", d.opts.port)
	if _, err := d.startProc("kube-apiserver", "kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", d.opts.port),
		"--cert-dir="+filepath.Join(dir, "pki"),
		"--tls-cert-file="+p.servingCert,
		"--tls-private-key-file="+p.servingKey,
		"--token-auth-file="+tokenFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+p.saPublicKey,
		"--service-account-signing-key-file="+p.saPrivateKey,
		"--service-cluster-ip-range="+serviceCIDR,
		// No controller-manager runs: nothing would create ServiceAccounts or lift the not-ready
		// taint TaintNodesByCondition puts on new nodes (KWOK marks them Ready instead).
		"--disable-admission-plugins=ServiceAccount,TaintNodesByCondition",
		"--allow-privileged=true",
		"--profiling=false"); err != nil {
		return err
	}

	cfg := &rest.Config{
		Host:            d.apiURL,
		BearerToken:     adminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: p.caCert},
		QPS:             100,
		Burst:           200,
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.caCert)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
	err = waitFor(ctx, "kube-apiserver /readyz at "+d.apiURL, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		_, code, err := httpGet(ctx, hc, d.apiURL+"/readyz", adminToken)
		return err == nil && code == http.StatusOK, err
	})
	if err != nil {
		return err
	}
	d.restConfig = cfg
	if d.client, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	// The bootstrap controllers create the default and kube-node-lease namespaces (KWOK writes node
	// Leases there) shortly after /readyz.
	err = waitFor(ctx, "the default and kube-node-lease namespaces", 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		for _, ns := range []string{metav1.NamespaceDefault, corev1.NamespaceNodeLease} {
			if _, err := d.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
				return false, err
			}
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	d.adminKubeconfig = filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(d.adminKubeconfig, d.apiURL, p.caCert, adminToken); err != nil {
		return err
	}
	d.logf("kube-apiserver ready on %s; admin kubeconfig %s", d.apiURL, d.adminKubeconfig)
	return nil
}

// startKWOK starts kwok, managing every node.
func (d *demo) startKWOK() error {
	_, err := d.startProc("kwok", "kwok",
		"--kubeconfig="+d.adminKubeconfig,
		"--config="+filepath.Join(d.binDir, "kwok-stages", "stages.yaml"),
		"--manage-all-nodes=true",
		"--node-lease-duration-seconds=40")
	if err == nil {
		d.logf("kwok started (--manage-all-nodes)")
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
	if _, err := d.startProc("gpu-scheduler", "gpu-scheduler",
		"--config="+cfgPath,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--v=2"); err != nil {
		return 0, err
	}
	d.logf("gpu-scheduler started: bin/gpu-scheduler --config %s", cfgPath)
	return port, nil
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
	data, err := os.ReadFile(filepath.Join(d.opts.root, schedulerConfig))
	if err != nil {
		return "", err
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return "", fmt.Errorf("%s: %w", schedulerConfig, err)
	}
	cc, _ := cfg["clientConnection"].(map[string]any)
	if cc == nil {
		cc = map[string]any{}
	}
	cc["kubeconfig"] = kcPath
	cfg["clientConnection"] = cc
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return "", err
	}
	path := filepath.Join(d.opts.dir, "scheduler-config.yaml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		return "", err
	}
	return path, nil
}

func (d *demo) waitNodesReady(ctx context.Context, want int) error {
	err := waitFor(ctx, fmt.Sprintf("KWOK to make %d nodes Ready", want), 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		nodes, err := d.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		ready := 0
		for _, n := range nodes.Items {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready >= want, nil
	})
	if err == nil {
		d.logf("%d nodes Ready (kwok)", want)
	}
	return err
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

// writeKubeconfig writes a token kubeconfig for server.
func writeKubeconfig(path, server string, caPEM []byte, token string) error {
	const name = "gpu-scheduler-dev"
	kc := clientcmdapi.NewConfig()
	kc.Clusters[name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: token}
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	kc.CurrentContext = name
	return clientcmd.WriteToFile(*kc, path)
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
