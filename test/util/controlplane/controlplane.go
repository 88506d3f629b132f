// Package controlplane starts and stops everything gpu-scheduler runs against on this machine,
// for the integration tests, `make demo`, `make dev-cluster` and the simulator parity test: a real
// etcd + kube-apiserver on loopback (Start), KWOK to make fake nodes Ready and bound Pods Running
// (StartKWOK), the CRDs of manifests/crds (InstallCRDs) and bin/gpu-scheduler (StartScheduler).
//
// The binaries are built from Go modules by `make tools` into <repo root>/bin
// (bin/etcd, bin/kube-apiserver, and bin/kube-apiserver-<minor> for the other
// apiserver minors the suite runs against; $GPU_SCHED_KUBE_APISERVER picks one).
// etcd and kube-apiserver are run by controller-runtime's envtest, which also makes the
// certificates and client users; this package picks the binaries, sets the flags this project
// needs and writes kubeconfig files.
//
// The scheduler_perf benchmark (test/perf) is the exception: its harness runs kube-apiserver in
// its own process and starts etcd itself (bin/etcd on PATH).
//
// No controller-manager runs, so the apiserver is started with the
// TaintNodesByCondition and ServiceAccount admission plugins disabled: new
// Nodes carry no not-ready taint, and Pods need no ServiceAccount object.
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

const (
	// ModulePath is the Go module path of the repository; RepoRoot looks for a
	// go.mod declaring it.
	ModulePath = "github.com/gpu-scheduler/gpu-scheduler"

	// EnvBinDir overrides the directory holding etcd, kube-apiserver (and
	// kubectl, kwok). Default: <repo root>/bin.
	EnvBinDir = "GPU_SCHED_BIN_DIR"

	// EnvAPIServer overrides the kube-apiserver binary (default: <bin dir>/kube-apiserver), to run
	// against another apiserver minor, e.g. bin/kube-apiserver-1.37.
	EnvAPIServer = "GPU_SCHED_KUBE_APISERVER"

	// EnvScheduler overrides the gpu-scheduler binary the tests start (default: <bin dir>/gpu-scheduler),
	// e.g. a build with the race detector.
	EnvScheduler = "GPU_SCHED_SCHEDULER"

	// EnvRequire makes StartForTest fail, instead of skip, when binaries are
	// missing. `make test` sets it after building the tools.
	EnvRequire = "GPU_SCHED_REQUIRE_CONTROLPLANE"

	// DefaultDisabledAdmissionPlugins is the value of
	// --disable-admission-plugins unless Options.APIServerArgs overrides it.
	DefaultDisabledAdmissionPlugins = "ServiceAccount,TaintNodesByCondition"

	defaultStartTimeout = 60 * time.Second
	defaultStopTimeout  = 30 * time.Second
	logTailBytes        = 16 << 10
)

// Options configures Start. The zero value is ready to use.
type Options struct {
	// BinDir holds etcd and kube-apiserver. Default: $GPU_SCHED_BIN_DIR, else
	// <repo root>/bin.
	BinDir string

	// APIServerArgs sets extra kube-apiserver flags (without the leading
	// "--"), replacing any default value of the same flag, e.g.
	// {"feature-gates": {"DynamicResourceAllocation=true"}}.
	APIServerArgs map[string][]string

	// APIServerPath is the kube-apiserver binary. Default: $GPU_SCHED_KUBE_APISERVER, else
	// <BinDir>/kube-apiserver.
	APIServerPath string

	// EtcdArgs sets extra etcd flags, like APIServerArgs.
	EtcdArgs map[string][]string

	// Output, if set, receives the stdout and stderr of etcd and
	// kube-apiserver; it must be safe for concurrent writes. The last 16 KiB
	// are always kept (see Logs) and included in start errors.
	Output io.Writer

	// SecurePort is the apiserver's port on 127.0.0.1 (default: a free one), e.g. 6443 for the
	// dev cluster, which config/local-kubeconfig.yaml points at.
	SecurePort int

	// LogDir, if set, receives etcd.log and kube-apiserver.log.
	LogDir string

	// StartTimeout and StopTimeout apply to each process. Defaults: 60s, 30s.
	StartTimeout time.Duration
	StopTimeout  time.Duration
}

// ControlPlane is a running etcd + kube-apiserver.
type ControlPlane struct {
	// Config authenticates as an admin (group system:masters) with a client
	// certificate. Treat it as read-only; use rest.CopyConfig to change it.
	Config *rest.Config

	// KubeconfigPath is a kubeconfig file equivalent to Config, e.g. for
	// kube-scheduler's clientConnection.kubeconfig or for kubectl.
	KubeconfigPath string

	// Dir is a temporary directory (removed by Stop) holding the kubeconfig
	// files this package writes. Callers may put their own files there.
	Dir string

	// BinDir is the directory the binaries were taken from.
	BinDir string

	client   kubernetes.Interface
	plane    *envtest.ControlPlane
	logs     *tailBuffer
	logFiles []*os.File
	stopOnce sync.Once
	stopErr  error
}

// Start starts etcd and kube-apiserver on free loopback ports with fresh data
// directories, and waits until the apiserver is ready and the "default"
// namespace exists. ctx bounds the start-up only; call Stop to shut down.
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	binDir := opts.BinDir
	if binDir == "" {
		var err error
		if binDir, err = DefaultBinDir(); err != nil {
			return nil, err
		}
	}
	apiServerPath, err := APIServerPath(opts, binDir)
	if err != nil {
		return nil, err
	}
	if err := CheckBinaries(binDir, apiServerPath); err != nil {
		return nil, err
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = defaultStartTimeout
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = defaultStopTimeout
	}

	logs := &tailBuffer{max: logTailBytes}
	outputs := map[string]io.Writer{"etcd": logs, "kube-apiserver": logs}
	var logFiles []*os.File
	for name, w := range outputs {
		ws := []io.Writer{w}
		if opts.Output != nil {
			ws = append(ws, opts.Output)
		}
		if opts.LogDir != "" {
			f, err := os.Create(filepath.Join(opts.LogDir, name+".log"))
			if err != nil {
				closeAll(logFiles)
				return nil, fmt.Errorf("controlplane: %w", err)
			}
			logFiles = append(logFiles, f)
			ws = append(ws, f)
		}
		outputs[name] = io.MultiWriter(ws...)
	}

	etcd := &envtest.Etcd{
		Path:         filepath.Join(binDir, "etcd"),
		StartTimeout: opts.StartTimeout,
		StopTimeout:  opts.StopTimeout,
		Out:          outputs["etcd"],
		Err:          outputs["etcd"],
	}
	for k, v := range opts.EtcdArgs {
		etcd.Configure().Set(k, v...)
	}
	apiServer := &envtest.APIServer{
		Path:         apiServerPath,
		StartTimeout: opts.StartTimeout,
		StopTimeout:  opts.StopTimeout,
		Out:          outputs["kube-apiserver"],
		Err:          outputs["kube-apiserver"],
	}
	if opts.SecurePort != 0 {
		apiServer.SecureServing.Address = "127.0.0.1"
		apiServer.SecureServing.Port = strconv.Itoa(opts.SecurePort)
	}
	// envtest already sets --service-account-{issuer,key-file,signing-key-file}
	// (with a generated key pair), so the TokenRequest API works.
	apiServer.Configure().Set("disable-admission-plugins", DefaultDisabledAdmissionPlugins)
	for k, v := range opts.APIServerArgs {
		apiServer.Configure().Set(k, v...)
	}
	plane := &envtest.ControlPlane{
		Etcd:        etcd,
		APIServer:   apiServer,
		KubectlPath: filepath.Join(binDir, "kubectl"),
	}

	dir, err := os.MkdirTemp("", "gpu-sched-controlplane-")
	if err != nil {
		closeAll(logFiles)
		return nil, fmt.Errorf("controlplane: creating temp dir: %w", err)
	}
	cp := &ControlPlane{Dir: dir, BinDir: binDir, plane: plane, logs: logs, logFiles: logFiles}

	started := make(chan error, 1)
	go func() { started <- plane.Start() }()
	select {
	case err = <-started:
	case <-ctx.Done():
		go func() {
			if <-started == nil {
				_ = plane.Stop()
			}
			_ = os.RemoveAll(dir)
			closeAll(logFiles)
		}()
		return nil, fmt.Errorf("controlplane: start aborted: %w", ctx.Err())
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		closeAll(logFiles)
		return nil, fmt.Errorf("controlplane: starting etcd/kube-apiserver from %s: %w\n--- last output ---\n%s",
			binDir, err, logs.String())
	}

	if err := cp.init(ctx); err != nil {
		_ = cp.Stop()
		return nil, err
	}
	return cp, nil
}

func (c *ControlPlane) init(ctx context.Context) error {
	admin, err := c.plane.AddUser(envtest.User{Name: "gpu-sched-admin", Groups: []string{"system:masters"}},
		&rest.Config{QPS: 1000, Burst: 2000})
	if err != nil {
		return fmt.Errorf("controlplane: provisioning admin user: %w", err)
	}
	c.Config = admin.Config()
	if c.client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return fmt.Errorf("controlplane: admin client: %w", err)
	}
	if c.KubeconfigPath, err = c.WriteKubeconfig("admin.kubeconfig", c.Config); err != nil {
		return err
	}
	// The apiserver is ready (envtest polled /readyz); the bootstrap controller creates the default
	// namespace and kube-node-lease (where KWOK renews node leases) shortly after.
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true,
		func(ctx context.Context) (bool, error) {
			for _, ns := range []string{metav1.NamespaceDefault, corev1.NamespaceNodeLease} {
				if _, err := c.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
					return false, nil
				}
			}
			return true, nil
		})
	if err != nil {
		return fmt.Errorf("controlplane: waiting for the default and kube-node-lease namespaces: %w", err)
	}
	return nil
}

// Client returns a clientset for the admin Config.
func (c *ControlPlane) Client() kubernetes.Interface { return c.client }

// Host returns the apiserver URL (https://127.0.0.1:<port>/).
func (c *ControlPlane) Host() string { return c.Config.Host }

// EtcdURL returns the etcd client URL.
func (c *ControlPlane) EtcdURL() string { return c.plane.Etcd.URL.String() }

// Logs returns the last 16 KiB of etcd/kube-apiserver output.
func (c *ControlPlane) Logs() string { return c.logs.String() }

// UserKubeconfig provisions a client-certificate user with the given name and
// groups (no RBAC bindings are created) and writes a kubeconfig for it.
func (c *ControlPlane) UserKubeconfig(name string, groups ...string) (string, *rest.Config, error) {
	u, err := c.plane.AddUser(envtest.User{Name: name, Groups: groups}, &rest.Config{QPS: 1000, Burst: 2000})
	if err != nil {
		return "", nil, fmt.Errorf("controlplane: provisioning user %q: %w", name, err)
	}
	cfg := u.Config()
	path, err := c.WriteKubeconfig("user-"+sanitize(name)+".kubeconfig", cfg)
	if err != nil {
		return "", nil, err
	}
	return path, cfg, nil
}

// ServiceAccountKubeconfig creates the namespace and ServiceAccount if missing,
// obtains a token for it through the TokenRequest API (valid for 24h) and
// writes a kubeconfig that authenticates as
// system:serviceaccount:<namespace>:<name>. No RBAC bindings are created.
func (c *ControlPlane) ServiceAccountKubeconfig(ctx context.Context, namespace, name string) (string, *rest.Config, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if _, err := c.client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", nil, fmt.Errorf("controlplane: creating namespace %s: %w", namespace, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	if _, err := c.client.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", nil, fmt.Errorf("controlplane: creating serviceaccount %s/%s: %w", namespace, name, err)
	}
	expiry := int64(24 * 60 * 60)
	tr, err := c.client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}},
		metav1.CreateOptions{})
	if err != nil {
		return "", nil, fmt.Errorf("controlplane: requesting token for serviceaccount %s/%s: %w", namespace, name, err)
	}
	cfg := &rest.Config{
		Host:            c.Config.Host,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.Config.CAData},
		BearerToken:     tr.Status.Token,
		QPS:             c.Config.QPS,
		Burst:           c.Config.Burst,
	}
	path, err := c.WriteKubeconfig("sa-"+sanitize(namespace)+"-"+sanitize(name)+".kubeconfig", cfg)
	if err != nil {
		return "", nil, err
	}
	return path, cfg, nil
}

// WriteKubeconfig writes a kubeconfig equivalent to cfg (server, CA, client
// certificate or bearer token) to Dir/name (name if absolute) and returns its path.
func (c *ControlPlane) WriteKubeconfig(name string, cfg *rest.Config) (string, error) {
	const ctxName = "gpu-sched"
	kc := clientcmdapi.NewConfig()
	kc.Clusters[ctxName] = &clientcmdapi.Cluster{
		Server:                   cfg.Host,
		CertificateAuthorityData: cfg.CAData,
	}
	kc.AuthInfos[ctxName] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData,
		ClientKeyData:         cfg.KeyData,
		Token:                 cfg.BearerToken,
	}
	kc.Contexts[ctxName] = &clientcmdapi.Context{Cluster: ctxName, AuthInfo: ctxName}
	kc.CurrentContext = ctxName
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(c.Dir, name)
	}
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return "", fmt.Errorf("controlplane: writing kubeconfig %s: %w", path, err)
	}
	return path, nil
}

// Stop stops kube-apiserver and etcd and removes their data and Dir. It is
// safe to call more than once.
func (c *ControlPlane) Stop() error {
	c.stopOnce.Do(func() {
		err := c.plane.Stop()
		closeAll(c.logFiles)
		if rmErr := os.RemoveAll(c.Dir); rmErr != nil {
			err = errors.Join(err, rmErr)
		}
		if err != nil {
			c.stopErr = fmt.Errorf("controlplane: stop: %w", err)
		}
	})
	return c.stopErr
}

// RepoRoot returns the directory of the go.mod declaring ModulePath, searching
// upwards from the working directory and then from this source file.
func RepoRoot() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	for _, dir := range starts {
		for {
			if isRepoRoot(dir) {
				return dir, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", fmt.Errorf("controlplane: no go.mod declaring module %s above %v", ModulePath, starts)
}

func isRepoRoot(dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == ModulePath
		}
	}
	return false
}

// DefaultBinDir returns $GPU_SCHED_BIN_DIR if set, else <repo root>/bin.
func DefaultBinDir() (string, error) {
	if d := os.Getenv(EnvBinDir); d != "" {
		return filepath.Abs(d)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "bin"), nil
}

// APIServerPath is the kube-apiserver binary Start runs with opts: opts.APIServerPath, else
// $GPU_SCHED_KUBE_APISERVER, else <binDir>/kube-apiserver.
func APIServerPath(opts Options, binDir string) (string, error) {
	p := opts.APIServerPath
	if p == "" {
		p = os.Getenv(EnvAPIServer)
	}
	if p == "" {
		return filepath.Join(binDir, "kube-apiserver"), nil
	}
	return filepath.Abs(p)
}

// CheckBinaries reports an error naming every missing or non-executable
// control-plane binary: etcd in binDir, and the kube-apiserver at apiServerPath.
func CheckBinaries(binDir, apiServerPath string) error {
	var missing []string
	for _, path := range []string{filepath.Join(binDir, "etcd"), apiServerPath} {
		st, err := os.Stat(path)
		if err != nil || st.IsDir() || st.Mode().Perm()&0o111 == 0 {
			missing = append(missing, path)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("controlplane: %s missing or not executable: run `make tools`", strings.Join(missing, ", "))
	}
	return nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		_ = f.Close()
	}
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
