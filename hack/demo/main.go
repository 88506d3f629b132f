// Command gpu-demo runs gpu-scheduler against a fake GPU cluster on this machine and shows where each
// Pod landed: `make demo` (print the table, tear down) and `make dev-cluster` (--keep: leave it
// running for kubectl).
//
// It starts, from bin/ (`make build tools`) and through test/util/controlplane, the one package that
// starts processes for the demo and the tests:
//   - etcd and kube-apiserver on 127.0.0.1, the apiserver on --port (6443) with a static token file,
//     so config/local-kubeconfig.yaml (token gpu-scheduler-dev-token) works, and an admin kubeconfig
//     written to _output/dev-cluster/kubeconfig;
//   - kwok --manage-all-nodes with bin/kwok-stages/stages.yaml, which turns the demo's fake nodes
//     (objects/nodes.yaml: H100 with InfiniBand, A100, T4, CPU-only) Ready and bound Pods Running;
//   - the CRDs of manifests/crds/ (PodGroup, which Coscheduling watches), then
//     gpu-scheduler --config config/scheduler-config.yaml, from the repository root.
//
// Then it submits the Pods of manifests/examples/ (Pods only: the device plugin DaemonSet is skipped)
// and objects/pods.yaml one by one, waits for each to be bound or to get a FailedScheduling event,
// and prints a table on stdout: Pod, node, GPU model, GPUs requested, GPU index (shares), the node's
// free GPUs; then why each Pending Pod is pending. Progress goes to stderr. Everything it started is
// stopped on exit, on error and on Ctrl-C/SIGTERM. With --keep, gpu-scheduler may stop and be
// restarted by hand (the printed commands) while the cluster keeps running.
//
// The demo has no placement logic of its own: every decision is gpu-scheduler's.
//
// Usage:
//
//	go run ./hack/demo [--keep] [--timeout 3m] [--port 6443] [--dir _output/dev-cluster] [--pods=true]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// modulePath identifies the repository root: the directory of the go.mod declaring it.
const modulePath = "github.com/gpu-scheduler/gpu-scheduler"

type options struct {
	keep    bool
	timeout time.Duration
	port    int
	dir     string
	root    string
	pods    bool
	dra     bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program: it parses args, runs the demo and tears it down, and returns the exit
// code. ctx ending (a signal) stops the demo.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gpu-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.BoolVar(&o.keep, "keep", false, "dev-cluster mode: leave the cluster running until Ctrl-C or SIGTERM")
	fs.DurationVar(&o.timeout, "timeout", 3*time.Minute, "give up if the cluster is not up and every Pod placed or rejected by then (with --keep: the start-up only)")
	fs.IntVar(&o.port, "port", 6443, "kube-apiserver port on 127.0.0.1; config/local-kubeconfig.yaml expects 6443, other ports get a generated scheduler config")
	fs.StringVar(&o.dir, "dir", "", "runtime directory: kubeconfig, certificates, etcd data, logs (default <repo>/_output/dev-cluster)")
	fs.StringVar(&o.root, "root", "", "repository root (default: found from the working directory)")
	fs.BoolVar(&o.pods, "pods", true, "submit the example Pods (false: an empty cluster, e.g. with --keep)")
	fs.BoolVar(&o.dra, "dra", false, "add a node pool whose GPUs a DRA driver publishes (ResourceSlices, and the DeviceClass mapping nvidia.com/gpu)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gpu-demo [flags]\n\nStarts etcd, kube-apiserver, KWOK with fake GPU nodes and gpu-scheduler, schedules the\nexample Pods and prints where they landed. Needs `make build tools`.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gpu-demo: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return 2
	}
	if o.port <= 0 || o.port > 65535 {
		fmt.Fprintf(stderr, "gpu-demo: --port %d: want 1-65535\n", o.port)
		return 2
	}

	d := &demo{opts: o, stdout: stdout, stderr: stderr, start: time.Now()}
	err := d.run(ctx)
	if stopErr := d.teardown(); stopErr != nil {
		err = errors.Join(err, stopErr)
	}
	switch {
	case err == nil:
		return 0
	case ctx.Err() != nil && (o.keep && !d.failed):
		// --keep ends with Ctrl-C: that is the normal way out.
		return 0
	case ctx.Err() != nil:
		fmt.Fprintf(stderr, "gpu-demo: interrupted: %v\n", err)
		return 130
	default:
		fmt.Fprintf(stderr, "gpu-demo: error: %v\n", err)
		return 1
	}
}

// findRoot returns the directory of the go.mod declaring modulePath, searching upwards from dir.
func findRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if data, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil {
			for _, line := range strings.Split(string(data), "\n") {
				if f := strings.Fields(line); len(f) >= 2 && f[0] == "module" && strings.Trim(f[1], `"`) == modulePath {
					return d, nil
				}
			}
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod declaring module %s above %s: run from the repository (or pass --root)", modulePath, dir)
		}
	}
}
