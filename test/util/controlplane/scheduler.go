package controlplane

import (
	"fmt"
	"os"
	"path/filepath"

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

// SchedulerConfigOptions is what WriteSchedulerConfig changes in a KubeSchedulerConfiguration; its
// profiles and pluginConfig stay as they are.
type SchedulerConfigOptions struct {
	// Kubeconfig becomes clientConnection.kubeconfig.
	Kubeconfig string
	// LeaderElection, if set, turns leader election on with these settings; else it is off.
	LeaderElection *LeaderElection
	// QPS and Burst of the scheduler's clients; zero keeps the config's values.
	QPS   float64
	Burst int
}

// WriteSchedulerConfig writes a copy of the KubeSchedulerConfiguration at src to dst with o applied.
func WriteSchedulerConfig(src, dst string, o SchedulerConfigOptions) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("scheduler config: %w", err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("scheduler config %s: %w", src, err)
	}
	if cfg["kind"] != "KubeSchedulerConfiguration" {
		return fmt.Errorf("scheduler config %s: kind %v, want KubeSchedulerConfiguration", src, cfg["kind"])
	}
	conn, _ := cfg["clientConnection"].(map[string]any)
	if conn == nil {
		conn = map[string]any{}
	}
	conn["kubeconfig"] = o.Kubeconfig
	if o.QPS > 0 {
		conn["qps"] = o.QPS
	}
	if o.Burst > 0 {
		conn["burst"] = o.Burst
	}
	cfg["clientConnection"] = conn
	le := map[string]any{"leaderElect": false}
	if o.LeaderElection != nil {
		b, err := yaml.Marshal(o.LeaderElection)
		if err != nil {
			return err
		}
		if err := yaml.Unmarshal(b, &le); err != nil {
			return err
		}
		le["leaderElect"] = true
		le["resourceLock"] = "leases"
	}
	cfg["leaderElection"] = le
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, out, 0o600)
}

// SchedulerOptions says how StartScheduler runs bin/gpu-scheduler.
type SchedulerOptions struct {
	// Name names the process in errors (default "gpu-scheduler").
	Name string
	// BinDir holds gpu-scheduler (default: DefaultBinDir).
	BinDir string
	// Config is the KubeSchedulerConfiguration file, relative to Dir or absolute.
	Config string
	// Dir is the working directory, e.g. the repository root.
	Dir string
	// LogPath receives the scheduler's output.
	LogPath string
	// Verbosity is --v.
	Verbosity int
	// SecurePort serves /metrics and the health checks on 127.0.0.1, open to anonymous requests;
	// 0 turns secure serving off.
	SecurePort int
	// OnExit is as in ProcessOptions.
	OnExit func(*Process, error)
}

// SchedulerArgs are the command-line arguments StartScheduler gives gpu-scheduler.
func SchedulerArgs(config string, securePort, verbosity int) []string {
	args := []string{"--config=" + config, fmt.Sprintf("--secure-port=%d", securePort), fmt.Sprintf("--v=%d", verbosity)}
	if securePort != 0 {
		args = append(args, "--bind-address=127.0.0.1", "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics")
	}
	return args
}

// SchedulerBinary is $GPU_SCHED_SCHEDULER if set, else gpu-scheduler in binDir (default:
// DefaultBinDir).
func SchedulerBinary(binDir string) (string, error) {
	if p := os.Getenv(EnvScheduler); p != "" {
		return filepath.Abs(p)
	}
	if binDir == "" {
		var err error
		if binDir, err = DefaultBinDir(); err != nil {
			return "", err
		}
	}
	return filepath.Join(binDir, "gpu-scheduler"), nil
}

// StartScheduler starts bin/gpu-scheduler with SchedulerArgs.
func StartScheduler(o SchedulerOptions) (*Process, error) {
	bin, err := SchedulerBinary(o.BinDir)
	if err != nil {
		return nil, err
	}
	if o.Name == "" {
		o.Name = "gpu-scheduler"
	}
	return StartProcess(ProcessOptions{
		Name:    o.Name,
		Path:    bin,
		Args:    SchedulerArgs(o.Config, o.SecurePort, o.Verbosity),
		Dir:     o.Dir,
		LogPath: o.LogPath,
		OnExit:  o.OnExit,
	})
}
