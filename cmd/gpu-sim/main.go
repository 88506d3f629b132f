// Command gpu-sim simulates gpu-scheduler's profiles and kube-scheduler baselines on GPU workloads
// (the Alibaba openb trace or YAML clusters and workloads) without a cluster, and compares them.
// Run `gpu-sim --help`; everything but process wiring lives in pkg/sim/cli.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim/cli"
)

// version is set at build time: go build -ldflags "-X main.version=v0.2.0".
var version = ""

func main() {
	// A simulation allocates steadily and lives briefly; collecting less often trades memory the
	// machine has for time the user waits, unless the user set GOGC. An openb run keeps about
	// 100 MB live: at 300 its heap peaks near 400 MB (at 400 it reached 517 MB, for no time saved).
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(300)
	}
	stopProfile, err := startCPUProfile(os.Getenv("GPU_SIM_CPUPROFILE"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "gpu-sim:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, versionString())
	stop()
	stopProfile()
	os.Exit(code)
}

// startCPUProfile writes a CPU profile of the whole run to path (for `go tool pprof`), when set.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("GPU_SIM_CPUPROFILE: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("GPU_SIM_CPUPROFILE: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// versionString is gpu-sim's version and the Kubernetes scheduler framework it was built with.
func versionString() string {
	v, k8s, goVersion := version, "unknown", "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		goVersion = info.GoVersion
		if v == "" {
			v = info.Main.Version
		}
		for _, d := range info.Deps {
			if d.Path == "k8s.io/kubernetes" {
				k8s = d.Version
				if d.Replace != nil {
					k8s = d.Replace.Version
				}
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	return fmt.Sprintf("gpu-sim %s (kube-scheduler framework %s, %s)", v, k8s, goVersion)
}
