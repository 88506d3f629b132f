package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var (
	gangCluster = filepath.Join(exampleDir, "gang-cluster.yaml")
	gangJobs    = filepath.Join(exampleDir, "gang-jobs.yaml")
)

func readGangsSummary(t *testing.T, dir string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, GangsSummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	var sum map[string]any
	if err := json.Unmarshal(data, &sum); err != nil {
		t.Fatal(err)
	}
	return sum
}

func TestGangsExamples(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := run(t, "gangs", "--nodes", gangCluster, "--pods", gangJobs, "--config", repoConfig, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"profile", "in one ib-leaf", "in one ib-fabric", "required broken", "gpu-scheduler", "coscheduling"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
	sum := readGangsSummary(t, out)
	runs, _ := sum["runs"].([]any)
	if len(runs) != 2 || sum["job_count"].(float64) != 183 || sum["gpu_total"].(float64) != 224 {
		t.Fatalf("summary: %d runs, %v jobs, %v GPUs", len(runs), sum["job_count"], sum["gpu_total"])
	}
	ours, theirs := runs[0].(map[string]any), runs[1].(map[string]any)
	if ours["profile"] != "gpu-scheduler" || theirs["profile"] != "coscheduling" {
		t.Fatalf("profiles %v, %v", ours["profile"], theirs["profile"])
	}
	// gpu-scheduler never breaks a required level; the plain profile, blind to topology, does.
	if ours["required_level_broken"].(float64) != 0 || theirs["required_level_broken"].(float64) == 0 {
		t.Errorf("required broken: gpu-scheduler %v, coscheduling %v", ours["required_level_broken"], theirs["required_level_broken"])
	}
	share := func(run map[string]any, level string) float64 {
		for _, l := range run["inside_one_domain"].([]any) {
			if m := l.(map[string]any); m["level"] == level {
				return m["share_pct"].(float64)
			}
		}
		t.Fatalf("no level %s in %v", level, run["inside_one_domain"])
		return 0
	}
	for _, level := range []string{"ib-leaf", "ib-fabric"} {
		if share(ours, level) <= share(theirs, level) {
			t.Errorf("%s: gpu-scheduler %.1f%% inside one domain, coscheduling %.1f%%: want more", level, share(ours, level), share(theirs, level))
		}
	}
	for _, f := range []string{"gangs-timeline-gpu-scheduler.csv", "gangs-timeline-coscheduling.csv"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}

func TestGangsGenerate(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, out := range []string{a, b} {
		if code, _, stderr := run(t, "gangs", "--nodes", gangCluster, "--generate", "60", "--seeds", "3", "--config", repoConfig, "--out", out); code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
	}
	sa, sb := readGangsSummary(t, a), readGangsSummary(t, b)
	if sa["job_count"].(float64) != 60 || sa["generate"] == nil {
		t.Errorf("summary: %v jobs, generate %v", sa["job_count"], sa["generate"])
	}
	// The same seed, the same jobs and placements: only the wall time differs.
	for _, s := range []map[string]any{sa, sb} {
		for _, r := range s["runs"].([]any) {
			delete(r.(map[string]any), "wall_seconds")
		}
	}
	ja, _ := json.Marshal(sa)
	jb, _ := json.Marshal(sb)
	if string(ja) != string(jb) {
		t.Errorf("two runs with seed 3 differ:\n%s\n%s", ja, jb)
	}
}

func TestGangsErrors(t *testing.T) {
	out := t.TempDir()
	dir := t.TempDir()
	bad := filepath.Join(dir, "jobs.yaml")
	if err := os.WriteFile(bad, []byte("jobs:\n- {name: a, pods: 2, gpusPerPod: 8, duration: 10, topologyRequired: spine}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"no nodes", []string{"gangs", "--pods", gangJobs, "--out", out}, 2, "--nodes is required"},
		{"no jobs", []string{"gangs", "--nodes", gangCluster, "--out", out}, 2, "--pods FILE or --generate N is required"},
		{"both", []string{"gangs", "--nodes", gangCluster, "--pods", gangJobs, "--generate", "5", "--out", out}, 2, "mutually exclusive"},
		{"several seeds", []string{"gangs", "--nodes", gangCluster, "--generate", "5", "--seeds", "1-3", "--out", out}, 2, "--seeds 1-3: gangs runs one seed; run it once per seed"},
		{"bad seeds", []string{"gangs", "--nodes", gangCluster, "--generate", "5", "--seeds", "x", "--out", out}, 2, `--seeds: "x" is not a seed`},
		{"several profiles", []string{"gangs", "--nodes", gangCluster, "--generate", "5", "--profiles", "a,b", "--out", out}, 2, `--profiles "a,b": gangs compares one profile`},
		{"no profile", []string{"gangs", "--nodes", gangCluster, "--generate", "5", "--profiles", "", "--out", out}, 2, `--profiles "": gangs compares one profile`},
		{"bad load", []string{"gangs", "--nodes", gangCluster, "--generate", "5", "--load", "0", "--out", out}, 2, "--load 0"},
		{"no out", []string{"gangs", "--nodes", gangCluster, "--generate", "5"}, 2, "--out is required"},
		{"csv cluster", []string{"gangs", "--nodes", "nodes.csv", "--generate", "5", "--config", repoConfig, "--out", out}, 1, "want a cluster YAML"},
		{"unknown level", []string{"gangs", "--nodes", gangCluster, "--pods", bad, "--config", repoConfig, "--out", out}, 1, `unknown topology level "spine"`},
		{"unknown profile", []string{"gangs", "--nodes", gangCluster, "--generate", "5", "--config", repoConfig, "--profiles", "x", "--out", out}, 1, `no profile "x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.err) {
				t.Errorf("exit %d, want %d; stderr lacks %q:\n%s", code, tc.code, tc.err, stderr)
			}
		})
	}
	if code, _, stderr := run(t, "gangs", "--help"); code != 0 || !strings.Contains(stderr, "topologyRequired") {
		t.Errorf("gangs --help: %d\n%s", code, stderr)
	}
}
