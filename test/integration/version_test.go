package integration

import (
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/gpu-scheduler/gpu-scheduler/test/integration/util"
)

// EnvExpectMinor names the apiserver minor (e.g. "1.37") the suite is meant to run against; `make
// test` sets it for each run, so a run meant for one minor cannot pass on another's binary.
const EnvExpectMinor = "GPU_SCHED_EXPECT_KUBE_MINOR"

func TestAPIServerMinor(t *testing.T) {
	env := util.NewEnv(t, util.EnvOptions{})
	v, err := env.Client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kube-apiserver %s", v.GitVersion)
	want := os.Getenv(EnvExpectMinor)
	if got := v.Major + "." + v.Minor; want != "" && got != want {
		t.Fatalf("kube-apiserver is %s (%s), want minor %s ($%s)", got, v.GitVersion, want, EnvExpectMinor)
	}
}

// --version names gpu-scheduler's version and the kube-scheduler it is built on, which is go.mod's
// k8s.io/kubernetes: kube-scheduler takes its feature gates' defaults from that version.
func TestSchedulerVersion(t *testing.T) {
	bin, err := util.SchedulerBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil && os.Getenv("GPU_SCHED_REQUIRE_CONTROLPLANE") == "" {
		t.Skipf("%s missing: run `make build`", bin)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", bin, err, out)
	}
	kube := ""
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "k8s.io/kubernetes" {
				kube = dep.Version
			}
		}
	}
	if kube == "" {
		t.Fatal("no k8s.io/kubernetes in this test's build info")
	}
	got := strings.TrimSpace(string(out))
	if !strings.HasPrefix(got, "gpu-scheduler v") || !strings.HasSuffix(got, " on kube-scheduler "+kube) {
		t.Errorf("--version = %q, want \"gpu-scheduler <version> on kube-scheduler %s\"", got, kube)
	}
}
