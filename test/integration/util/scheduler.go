package util

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"
)

// LeaderElection is the leaderElection block of a KubeSchedulerConfiguration.
type LeaderElection struct {
	LeaseDuration     string `json:"leaseDuration,omitempty"`
	RenewDeadline     string `json:"renewDeadline,omitempty"`
	RetryPeriod       string `json:"retryPeriod,omitempty"`
	ResourceName      string `json:"resourceName,omitempty"`
	ResourceNamespace string `json:"resourceNamespace,omitempty"`
}

// SchedulerOptions configures StartScheduler.
type SchedulerOptions struct {
	// Name identifies the process in logs and file names. Default "scheduler-<n>".
	Name string
	// Kubeconfig the scheduler connects with. Default: the control plane's admin kubeconfig.
	Kubeconfig string
	// LeaderElection, if set, enables leader election with these settings; else it is off.
	LeaderElection *LeaderElection
	// QPS and Burst of the scheduler's clients; zero keeps the config's values.
	QPS   float64
	Burst int
	// Config is the config file to start from, relative to the repository root.
	// Default config/scheduler-config.yaml.
	Config string
	// Verbosity is --v. Default 2 (bindings are logged at 2).
	Verbosity int
	// SecurePort serves /metrics (and the health checks) there, open to anonymous requests; 0
	// turns secure serving off.
	SecurePort int
}

// Scheduler is a running bin/gpu-scheduler process.
type Scheduler struct {
	Name       string
	LogPath    string
	ConfigPath string

	cmd     *exec.Cmd
	logFile *os.File
	done    chan struct{}
	waitErr error
	killed  bool
	mu      sync.Mutex
}

// SchedulerConfig writes a copy of the config file with the test's kubeconfig, leader election and
// client limits, keeping its profiles and pluginConfig as they are, and returns its path.
func (e *Env) SchedulerConfig(opts SchedulerOptions) string {
	e.T.Helper()
	src := opts.Config
	if src == "" {
		src = "config/scheduler-config.yaml"
	}
	data, err := os.ReadFile(e.Path(src))
	if err != nil {
		e.T.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		e.T.Fatalf("parsing %s: %v", src, err)
	}
	if cfg["kind"] != "KubeSchedulerConfiguration" {
		e.T.Fatalf("%s: kind %v, want KubeSchedulerConfiguration", src, cfg["kind"])
	}
	conn, _ := cfg["clientConnection"].(map[string]any)
	if conn == nil {
		conn = map[string]any{}
	}
	conn["kubeconfig"] = opts.Kubeconfig
	if conn["kubeconfig"] == "" {
		conn["kubeconfig"] = e.CP.KubeconfigPath
	}
	if opts.QPS > 0 {
		conn["qps"] = opts.QPS
	}
	if opts.Burst > 0 {
		conn["burst"] = opts.Burst
	}
	cfg["clientConnection"] = conn
	if le := opts.LeaderElection; le != nil {
		b, err := yaml.Marshal(le)
		if err != nil {
			e.T.Fatal(err)
		}
		m := map[string]any{}
		if err := yaml.Unmarshal(b, &m); err != nil {
			e.T.Fatal(err)
		}
		m["leaderElect"] = true
		m["resourceLock"] = "leases"
		cfg["leaderElection"] = m
	} else {
		cfg["leaderElection"] = map[string]any{"leaderElect": false}
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		e.T.Fatal(err)
	}
	f, err := os.CreateTemp(e.LogDir, "scheduler-config-*.yaml")
	if err != nil {
		e.T.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(out); err != nil {
		e.T.Fatal(err)
	}
	return f.Name()
}

// StartScheduler starts bin/gpu-scheduler with a config built by SchedulerConfig, --secure-port=0 and
// its output in a log file, after installing the PodGroup CRD (InstallPodGroupCRD). The process is
// killed when the test ends, and on failure the end of its log is printed.
func (e *Env) StartScheduler(opts SchedulerOptions) *Scheduler {
	e.T.Helper()
	if opts.Name == "" {
		e.schedulers++
		opts.Name = fmt.Sprintf("scheduler-%d", e.schedulers)
	}
	if opts.Verbosity == 0 {
		opts.Verbosity = 2
	}
	bin, err := SchedulerBinary()
	if err != nil {
		e.T.Fatal(err)
	}
	// The shipped profile's Coscheduling watches PodGroups: without their CRD the scheduler waits
	// forever for that informer to sync and schedules nothing.
	e.InstallPodGroupCRD()
	s := &Scheduler{
		Name:       opts.Name,
		ConfigPath: e.SchedulerConfig(opts),
		LogPath:    filepath.Join(e.LogDir, opts.Name+".log"),
		done:       make(chan struct{}),
	}
	if s.logFile, err = os.Create(s.LogPath); err != nil {
		e.T.Fatal(err)
	}
	args := []string{"--config=" + s.ConfigPath, fmt.Sprintf("--secure-port=%d", opts.SecurePort), fmt.Sprintf("--v=%d", opts.Verbosity)}
	if opts.SecurePort != 0 {
		args = append(args, "--bind-address=127.0.0.1", "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics")
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Dir = e.RepoRoot
	s.cmd.Stdout = s.logFile
	s.cmd.Stderr = s.logFile
	if err := s.cmd.Start(); err != nil {
		s.logFile.Close()
		e.T.Fatalf("starting %s: %v", bin, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		s.logFile.Close()
		close(s.done)
	}()
	t := e.T
	t.Cleanup(func() {
		if err := s.Kill(); err != nil {
			t.Logf("%s: %v", s.Name, err)
		}
		if t.Failed() {
			t.Logf("--- %s log (%s), last lines ---\n%s", s.Name, s.LogPath, tail(s.Logs(), 120))
		}
	})
	t.Logf("started %s (pid %d), log %s", s.Name, s.cmd.Process.Pid, s.LogPath)
	return s
}

// Pid is the process id.
func (s *Scheduler) Pid() int { return s.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (s *Scheduler) Exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Err returns nil while the process runs and wasn't killed by us, else an error saying it exited.
func (s *Scheduler) Err() error {
	if !s.Exited() {
		return nil
	}
	s.mu.Lock()
	killed := s.killed
	s.mu.Unlock()
	if killed {
		return nil
	}
	return fmt.Errorf("%s exited unexpectedly: %v; log tail:\n%s", s.Name, s.waitErr, tail(s.Logs(), 40))
}

// Kill sends SIGKILL and waits for the process to end.
func (s *Scheduler) Kill() error { return s.signal(syscall.SIGKILL, 30*time.Second) }

// Stop sends SIGTERM and waits up to 15 s, then SIGKILL.
func (s *Scheduler) Stop() error {
	if err := s.signal(syscall.SIGTERM, 15*time.Second); err == nil {
		return nil
	}
	return s.Kill()
}

func (s *Scheduler) signal(sig syscall.Signal, timeout time.Duration) error {
	if s.Exited() {
		return nil
	}
	s.mu.Lock()
	s.killed = true
	s.mu.Unlock()
	if err := s.cmd.Process.Signal(sig); err != nil && !s.Exited() {
		return fmt.Errorf("signalling %s: %w", s.Name, err)
	}
	select {
	case <-s.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("%s did not exit within %v of %v", s.Name, timeout, sig)
	}
}

// Logs returns the log so far.
func (s *Scheduler) Logs() string {
	b, _ := os.ReadFile(s.LogPath)
	return string(b)
}

// LogSize is the number of bytes logged so far: later log lines start at or after it.
func (s *Scheduler) LogSize() int64 {
	st, err := os.Stat(s.LogPath)
	if err != nil {
		return 0
	}
	return st.Size()
}

// Binding is one "Successfully bound pod to node" log line.
type Binding struct {
	Pod    string // namespace/name
	Node   string
	Offset int64 // byte offset of the line in the log
}

var boundRE = regexp.MustCompile(`"Successfully bound pod to node" pod="([^"]+)" node="([^"]+)"`)

// Bindings parses the bindings this process logged, in order.
func (s *Scheduler) Bindings() []Binding {
	var out []Binding
	s.eachLine(func(off int64, line string) {
		if m := boundRE.FindStringSubmatch(line); m != nil {
			out = append(out, Binding{Pod: m[1], Node: m[2], Offset: off})
		}
	})
	return out
}

var hintRE = regexp.MustCompile(`"OpportunisticBatch provided node hint" .*pod="([^"]+)".* hint="([^"]+)"`)

// BatchHints parses the node hints kube-scheduler's opportunistic batching gave (logged at --v=3):
// the Pods placed from the previous Pod's scores, and the node each was offered, in order.
func (s *Scheduler) BatchHints() []Binding {
	var out []Binding
	s.eachLine(func(off int64, line string) {
		if m := hintRE.FindStringSubmatch(line); m != nil {
			out = append(out, Binding{Pod: m[1], Node: m[2], Offset: off})
		}
	})
	return out
}

// LineOffset returns the offset of the first log line containing substr, or -1.
func (s *Scheduler) LineOffset(substr string) int64 {
	found := int64(-1)
	s.eachLine(func(off int64, line string) {
		if found < 0 && strings.Contains(line, substr) {
			found = off
		}
	})
	return found
}

func (s *Scheduler) eachLine(fn func(off int64, line string)) {
	data, err := os.ReadFile(s.LogPath)
	if err != nil {
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var off int64
	for sc.Scan() {
		line := sc.Text()
		fn(off, line)
		off += int64(len(line)) + 1
	}
}

func tail(s string, lines int) string {
	parts := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// AliveCheck fails t if any of the schedulers exited without being stopped; use it in poll loops so
// a crash shows at once instead of as a timeout.
func AliveCheck(scheds ...*Scheduler) error {
	for _, s := range scheds {
		if err := s.Err(); err != nil {
			return err
		}
	}
	return nil
}
