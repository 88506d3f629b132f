package sim

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim/trace"
)

func openbDir(t testing.TB) string {
	dir, _ := filepath.Abs("../../../shared/data/openb")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("openb trace not found at %s", dir)
	}
	return dir
}

// TestInflateOpenBDefault runs the published experiment on the default trace with every built-in
// profile; it takes minutes, so it runs only with GPU_SIM_FULL=1 (gpu-sim's own figures come from
// the CLI, see docs/results.md).
func TestInflateOpenBDefault(t *testing.T) {
	if os.Getenv("GPU_SIM_FULL") == "" {
		t.Skip("set GPU_SIM_FULL=1 to run the full openb experiment")
	}
	dir := openbDir(t)
	nodes, _, err := trace.LoadOpenBNodes(filepath.Join(dir, "openb_node_list_gpu_node.csv"), trace.Options{Lenient: true})
	if err != nil {
		t.Fatal(err)
	}
	pods, _, err := trace.LoadOpenBPods(filepath.Join(dir, "openb_pod_list_default.csv"), trace.Options{Lenient: true})
	if err != nil {
		t.Fatal(err)
	}
	inflated := trace.Inflate(pods, 6212, 1.3, 42)
	profiles, err := LoadProfiles("../../config/scheduler-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range strings.Fields(os.Getenv("GPU_SIM_BASELINES")) {
		p, err := BaselineProfile(name)
		if err != nil {
			t.Fatal(err)
		}
		profiles = append(profiles, p)
	}
	for _, p := range profiles {
		res, err := Inflate(context.Background(), p, trace.Cluster{Nodes: nodes}, inflated, 42, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: pods %d scheduled %d failed %d alloc@100 %.2f%% frag@100 %.2f%% fractional %d wall %.1fs reasons %v",
			p.Name, res.PodsTotal, res.PodsScheduled, res.PodsFailed, res.AllocPctAt100, res.FragPctAt100, res.Fractional, res.WallSeconds, res.FailedReasons)
	}
}
