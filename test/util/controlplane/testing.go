package controlplane

import (
	"context"
	"os"
	"testing"
)

// StartForTest starts a control plane for a test and stops it in t.Cleanup.
// If the binaries are missing it skips the test, unless $GPU_SCHED_REQUIRE_CONTROLPLANE
// is set (as `make test` does), in which case it fails. A start failure fails
// the test and prints the control plane's last output.
func StartForTest(t testing.TB, opts Options) *ControlPlane {
	t.Helper()
	if err := Available(opts); err != nil {
		if os.Getenv(EnvRequire) == "" {
			t.Skipf("skipping: %v (set %s=1 to make this a failure)", err, EnvRequire)
		}
		t.Fatalf("%v (%s is set)", err, EnvRequire)
	}
	cp, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return cp
}

// Available reports whether Start could find its binaries with opts.
func Available(opts Options) error {
	binDir := opts.BinDir
	if binDir == "" {
		var err error
		if binDir, err = DefaultBinDir(); err != nil {
			return err
		}
	}
	apiServerPath, err := APIServerPath(opts, binDir)
	if err != nil {
		return err
	}
	return CheckBinaries(binDir, apiServerPath)
}
