package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gpu-scheduler/gpu-scheduler/test/integration/util"
	"github.com/gpu-scheduler/gpu-scheduler/test/util/controlplane"
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
	util.RequireBinaries(t, controlplane.Options{})
	bin, err := controlplane.SchedulerBinary("")
	if err != nil {
		t.Fatal(err)
	}
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// stdout only: a build with the race detector logs that it is one on stderr.
	var stderr strings.Builder
	cmd := exec.Command(bin, "--version")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s%s", bin, err, out, stderr.String())
	}
	kube := requiredVersion(t, filepath.Join(root, "go.mod"), "k8s.io/kubernetes")
	got := strings.TrimSpace(string(out))
	if !strings.HasPrefix(got, "gpu-scheduler v") || !strings.HasSuffix(got, " on kube-scheduler "+kube) {
		t.Errorf("--version = %q, want \"gpu-scheduler <version> on kube-scheduler %s\"", got, kube)
	}
}

// requiredVersion reads the version go.mod requires of module.
func requiredVersion(t *testing.T, gomod, module string) string {
	t.Helper()
	data, err := os.ReadFile(gomod)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(module) + `\s+(v\S+)`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("%s requires no %s", gomod, module)
	}
	return string(m[1])
}
