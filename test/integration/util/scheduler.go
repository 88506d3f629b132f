package util

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/gpu-scheduler/gpu-scheduler/test/util/controlplane"
)

// LeaderElection is the leaderElection block of a KubeSchedulerConfiguration.
type LeaderElection = controlplane.LeaderElection

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

// raceWarning starts each report of the race detector.
const raceWarning = "WARNING: DATA RACE"

// Scheduler is a running bin/gpu-scheduler process.
type Scheduler struct {
	*controlplane.Process
	ConfigPath string
}

// SchedulerConfig writes a copy of the config file with the test's kubeconfig, leader election and
// client limits, keeping its profiles and pluginConfig as they are, and returns its path.
func (e *Env) SchedulerConfig(opts SchedulerOptions) string {
	e.T.Helper()
	src := opts.Config
	if src == "" {
		src = "config/scheduler-config.yaml"
	}
	kubeconfig := opts.Kubeconfig
	if kubeconfig == "" {
		kubeconfig = e.CP.KubeconfigPath
	}
	f, err := os.CreateTemp(e.LogDir, "scheduler-config-*.yaml")
	if err != nil {
		e.T.Fatal(err)
	}
	_ = f.Close()
	err = controlplane.WriteSchedulerConfig(e.Path(src), f.Name(), controlplane.SchedulerConfigOptions{
		Kubeconfig: kubeconfig, LeaderElection: opts.LeaderElection, QPS: opts.QPS, Burst: opts.Burst,
	})
	if err != nil {
		e.T.Fatal(err)
	}
	return f.Name()
}

// StartScheduler starts bin/gpu-scheduler with a config built by SchedulerConfig and its output in a
// log file, after installing the PodGroup CRD (InstallPodGroupCRD). The process is killed when the
// test ends, and on failure the end of its log is printed.
func (e *Env) StartScheduler(opts SchedulerOptions) *Scheduler {
	e.T.Helper()
	if opts.Name == "" {
		e.schedulers++
		opts.Name = fmt.Sprintf("scheduler-%d", e.schedulers)
	}
	if opts.Verbosity == 0 {
		opts.Verbosity = 2
	}
	e.InstallPodGroupCRD()
	cfg := e.SchedulerConfig(opts)
	p, err := controlplane.StartScheduler(controlplane.SchedulerOptions{
		Name:       opts.Name,
		Config:     cfg,
		Dir:        e.RepoRoot,
		LogPath:    filepath.Join(e.LogDir, opts.Name+".log"),
		Verbosity:  opts.Verbosity,
		SecurePort: opts.SecurePort,
	})
	if err != nil {
		e.T.Fatal(err)
	}
	s := &Scheduler{Process: p, ConfigPath: cfg}
	t := e.T
	t.Cleanup(func() {
		if err := s.Kill(); err != nil {
			t.Logf("%s: %v", s.Name, err)
		}
		// A scheduler built with -race (make test's second run) reports races in its log and runs on.
		if logs := s.Logs(); strings.Contains(logs, raceWarning) {
			t.Errorf("%s: the race detector reported a data race (log %s):\n%s", s.Name, s.LogPath, logs[strings.Index(logs, raceWarning):])
		}
		if t.Failed() {
			t.Logf("--- %s log (%s), last lines ---\n%s", s.Name, s.LogPath, s.Tail(120))
		}
	})
	t.Logf("started %s (pid %d), log %s", s.Name, s.Pid(), s.LogPath)
	return s
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
