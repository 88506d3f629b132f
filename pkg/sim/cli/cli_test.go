package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const (
	repoConfig  = "../../../config/scheduler-config.yaml"
	exampleDir  = "../../../examples/sim"
	openBHeader = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time"
)

func TestParseSeeds(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int64
		err  string
	}{
		{in: "42", want: []int64{42}},
		{in: "42-51", want: []int64{42, 43, 44, 45, 46, 47, 48, 49, 50, 51}},
		{in: "1,5,9", want: []int64{1, 5, 9}},
		{in: " 1, 5-7 ,0", want: []int64{1, 5, 6, 7, 0}},
		{in: "7-7", want: []int64{7}},
		{in: "", err: "no seeds"},
		{in: "abc", err: `"abc" is not a seed`},
		{in: "1,,2", err: `"" is not a seed`},
		{in: "-5", err: "is not a seed"},
		{in: "51-42", err: "ends before it starts"},
		{in: "1-2-3", err: "is not a seed"},
		{in: "1.5", err: "is not a seed"},
		{in: "1,1", err: "seed 1 appears twice"},
		{in: "1-3,2", err: "seed 2 appears twice"},
		{in: "0-10000", err: "more than 10000 seeds"},
		{in: "99999999999999999999", err: "too large"},
	} {
		got, err := ParseSeeds(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseSeeds(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseSeeds(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseArgs(t *testing.T) {
	base := []string{"--nodes", "n.csv", "--pods", "p.csv", "--out", "o"}
	with := func(extra ...string) []string { return append(append([]string{}, base...), extra...) }
	for _, tc := range []struct {
		name string
		mode string
		args []string
		err  string
		want func(*Options) bool
	}{
		{name: "defaults", mode: ModeInflate, args: base, want: func(o *Options) bool {
			return o.Ratio == 1.3 && o.Parallel == 1 && reflect.DeepEqual(o.Seeds, []int64{42}) && o.Profiles == nil &&
				o.Config == DefaultConfig && !o.ConfigSet && !o.Strict
		}},
		{name: "all flags", mode: ModeInflate, args: with("--seeds", "42-51", "--profiles", "default, bestfit", "--ratio", "2", "--parallel", "4", "--config", "c.yaml", "--strict"),
			want: func(o *Options) bool {
				return len(o.Seeds) == 10 && reflect.DeepEqual(o.Profiles, []string{"default", "bestfit"}) && o.Ratio == 2 &&
					o.Parallel == 4 && o.Config == "c.yaml" && o.ConfigSet && o.Strict
			}},
		{name: "replay retry cap", mode: ModeReplay, args: with("--retry-cap", "5"), want: func(o *Options) bool { return o.RetryCap == 5 }},
		{name: "unknown mode", mode: "deflate", args: base, err: `unknown mode "deflate"`},
		{name: "missing nodes", mode: ModeInflate, args: []string{"--pods", "p.csv", "--out", "o"}, err: "--nodes is required"},
		{name: "missing pods", mode: ModeInflate, args: []string{"--nodes", "n.csv", "--out", "o"}, err: "--pods is required"},
		{name: "missing out", mode: ModeReplay, args: []string{"--nodes", "n.csv", "--pods", "p.csv"}, err: "--out is required"},
		{name: "bad seeds", mode: ModeInflate, args: with("--seeds", "x"), err: "--seeds:"},
		{name: "bad profiles", mode: ModeInflate, args: with("--profiles", "a,,b"), err: "--profiles: empty profile name"},
		{name: "dup profiles", mode: ModeInflate, args: with("--profiles", "a,a"), err: `profile "a" appears twice`},
		{name: "zero ratio", mode: ModeInflate, args: with("--ratio", "0"), err: "--ratio 0"},
		{name: "nan ratio", mode: ModeInflate, args: with("--ratio", "NaN"), err: "--ratio NaN"},
		{name: "ratio not a number", mode: ModeInflate, args: with("--ratio", "lots"), err: "invalid value"},
		{name: "zero parallel", mode: ModeInflate, args: with("--parallel", "0"), err: "--parallel 0"},
		{name: "retry cap in inflate", mode: ModeInflate, args: with("--retry-cap", "3"), err: "not defined"},
		{name: "ratio in replay", mode: ModeReplay, args: with("--ratio", "3"), err: "not defined"},
		{name: "zero retry cap", mode: ModeReplay, args: with("--retry-cap", "0"), err: "--retry-cap 0"},
		{name: "positional", mode: ModeInflate, args: with("extra"), err: `unexpected argument "extra"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseArgs(tc.mode, tc.args, io.Discard)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %+v, %v; want error containing %q", o, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.want(o) {
				t.Errorf("unexpected options %+v", o)
			}
		})
	}
	if _, err := ParseArgs(ModeInflate, []string{"--help"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: got %v, want flag.ErrHelp", err)
	}
}

// TestSharedFlagNames checks that every mode takes --nodes, --pods, --seeds and --profiles, and that
// gangs' old names are a command-line error naming the new one, in every mode.
func TestSharedFlagNames(t *testing.T) {
	parse := func(mode string, args []string) error {
		if mode == ModeGangs {
			_, err := ParseGangsArgs(args, io.Discard)
			return err
		}
		_, err := ParseArgs(mode, args, io.Discard)
		return err
	}
	shared := []string{"--nodes", "c.yaml", "--pods", "p.yaml", "--seeds", "7", "--profiles", "gpu-scheduler", "--out", "o"}
	for _, mode := range []string{ModeInflate, ModeReplay, ModeWhatIf, ModeGangs} {
		t.Run(mode, func(t *testing.T) {
			if err := parse(mode, shared); err != nil {
				t.Errorf("shared names: %v", err)
			}
			// A value that looks like an old name is a value.
			if err := parse(mode, append([]string{"--out", "--seed"}, shared[:8]...)); err != nil {
				t.Errorf("--out --seed: %v", err)
			}
			for _, tc := range []struct {
				args []string
				want string
			}{
				{[]string{"--cluster", "c.yaml"}, "--cluster was renamed --nodes"},
				{[]string{"--jobs", "j.yaml"}, "--jobs was renamed --pods"},
				{[]string{"--seed", "7"}, "--seed was renamed --seeds"},
				{[]string{"--seed=7"}, "--seed was renamed --seeds"},
				{[]string{"-profile", "gpu-scheduler"}, "--profile was renamed --profiles"},
				{[]string{"--nodes", "c.yaml", "--profile=gpu-scheduler"}, "--profile was renamed --profiles"},
			} {
				code, _, stderr := run(t, append([]string{mode}, tc.args...)...)
				if code != 2 || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "not defined") {
					t.Errorf("%v: exit %d, want 2 and %q:\n%s", tc.args, code, tc.want, stderr)
				}
			}
		})
	}
	// After a boolean flag, the next argument is a flag, not its value.
	if err := parse(ModeInflate, append([]string{"--strict", "--seed", "7"}, shared...)); err == nil || err.Error() != "--seed was renamed --seeds" {
		t.Errorf("--strict --seed: %v", err)
	}
}

func TestResolveProfiles(t *testing.T) {
	names := func(t *testing.T, profiles []string, config string, set bool) ([]string, error) {
		t.Helper()
		ps, err := ResolveProfiles(profiles, config, set)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return out, nil
	}
	got, err := names(t, nil, repoConfig, false)
	if err != nil || !reflect.DeepEqual(got, []string{"gpu-scheduler", "default", "bestfit", "fgd"}) {
		t.Errorf("all: got %v, %v", got, err)
	}
	got, err = names(t, []string{"bestfit", "gpu-scheduler"}, repoConfig, true)
	if err != nil || !reflect.DeepEqual(got, []string{"bestfit", "gpu-scheduler"}) {
		t.Errorf("chosen: got %v, %v", got, err)
	}
	// Baselines only: the (missing) default config is not needed.
	got, err = names(t, []string{"default"}, "does/not/exist.yaml", false)
	if err != nil || !reflect.DeepEqual(got, []string{"default"}) {
		t.Errorf("baseline only: got %v, %v", got, err)
	}
	_, err = names(t, []string{"gpu-scheduler", "kai"}, repoConfig, false)
	if err == nil || !strings.Contains(err.Error(), `unknown profile "kai": available: gpu-scheduler, default, bestfit, fgd`) {
		t.Errorf("unknown: got %v", err)
	}
	_, err = names(t, nil, "does/not/exist.yaml", false)
	if err == nil || !strings.Contains(err.Error(), "--profiles default,bestfit,fgd ") {
		t.Errorf("missing default config: got %v", err)
	}
	_, err = names(t, []string{"default"}, "does/not/exist.yaml", true)
	if err == nil || !strings.Contains(err.Error(), "exist.yaml") {
		t.Errorf("missing explicit config: got %v", err)
	}
}

func TestDetectFormat(t *testing.T) {
	for in, want := range map[string]string{"a.csv": FormatOpenB, "A.CSV": FormatOpenB, "x/c.yaml": FormatYAML, "c.yml": FormatYAML, "c.json": "", "noext": ""} {
		got, err := DetectFormat(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("DetectFormat(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// run runs gpu-sim's Main with args and returns the exit code, stdout and stderr.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), args, &stdout, &stderr, "gpu-sim test")
	return code, stdout.String(), stderr.String()
}

// requiredRunFields are the fields of every summary.json run, as the issue specifies.
var requiredRunFields = []string{"profile", "seed", "pods_total", "pods_scheduled", "pods_failed", "gpu_total",
	"gpu_alloc_pct_at_100", "frag_pct_at_100", "wall_seconds", "failed_reasons"}

func readSummary(t *testing.T, dir string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("summary.json: %v", err)
	}
	return m
}

// runsWithoutWall returns the summary's runs with wall_seconds removed.
func runsWithoutWall(t *testing.T, m map[string]any) []any {
	runs := m["runs"].([]any)
	for _, r := range runs {
		delete(r.(map[string]any), "wall_seconds")
	}
	return runs
}

func TestInflateEndToEnd(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := run(t, "inflate", "--nodes", filepath.Join(exampleDir, "cluster.yaml"), "--pods", filepath.Join(exampleDir, "workload.yaml"),
		"--config", repoConfig, "--seeds", "42-43", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	profiles := []string{"gpu-scheduler", "default", "bestfit", "fgd"}
	for _, p := range profiles {
		if !strings.Contains(stdout, p) {
			t.Errorf("table lacks %s:\n%s", p, stdout)
		}
	}
	if !strings.Contains(stdout, "±") {
		t.Errorf("table lacks mean ± stddev:\n%s", stdout)
	}
	m := readSummary(t, out)
	runs := m["runs"].([]any)
	if len(runs) != len(profiles)*2 {
		t.Fatalf("got %d runs, want %d", len(runs), len(profiles)*2)
	}
	byReason, ok := m["failed_by_reason"].([]any)
	if !ok {
		t.Fatalf("failed_by_reason is %T, want a list", m["failed_by_reason"])
	}
	withReasons := map[string]bool{}
	for _, c := range byReason {
		withReasons[c.(map[string]any)["profile"].(string)] = true
	}
	for _, r := range runs {
		run := r.(map[string]any)
		if run["pods_failed"].(float64) > 0 && !withReasons[run["profile"].(string)] {
			t.Errorf("profile %v failed Pods but failed_by_reason has no row for it", run["profile"])
		}
	}
	if len(byReason) > 0 && !strings.Contains(stdout, "Pods that failed, by reason") {
		t.Errorf("stdout lacks the failed-by-reason table:\n%s", stdout)
	}
	for _, r := range runs {
		run := r.(map[string]any)
		for _, f := range requiredRunFields {
			if _, ok := run[f]; !ok {
				t.Errorf("run %v lacks %q", run["profile"], f)
			}
		}
		if _, ok := run["failed_reasons"].(map[string]any); !ok {
			t.Errorf("failed_reasons is %T, want an object", run["failed_reasons"])
		}
		if run["fractional"].(float64) == 0 {
			t.Errorf("run %v: no fractional pods counted, the workload has some", run["profile"])
		}
		if c := run["ffd_ceiling_pct"].(float64); c <= 0 || c > 100 || c < run["gpu_alloc_pct_at_100"].(float64)-5 {
			t.Errorf("run %v: ffd_ceiling_pct %v beside an allocation of %v", run["profile"], c, run["gpu_alloc_pct_at_100"])
		}
		if total, sched, failed := run["pods_total"].(float64), run["pods_scheduled"].(float64), run["pods_failed"].(float64); sched+failed != total {
			t.Errorf("run %v: scheduled %v + failed %v != total %v", run["profile"], sched, failed, total)
		}
		name := filepath.Join(out, TimelineFile(run["profile"].(string), int64(run["seed"].(float64))))
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(rows[0], ","); got != "arrived_pct,alloc_pct,frag_pct" {
			t.Errorf("%s header %q", name, got)
		}
		if len(rows) < 2 || len(rows) > MaxTimelineRows+1 {
			t.Errorf("%s has %d rows", name, len(rows))
		}
	}
	for _, k := range []string{"trace", "skipped_rows", "fractional_rule", "means", "profiles", "seeds"} {
		if _, ok := m[k]; !ok {
			t.Errorf("summary lacks %q", k)
		}
	}
	if n := len(m["means"].([]any)); n != len(profiles) {
		t.Errorf("got %d means, want %d", n, len(profiles))
	}
	checkSVG(t, filepath.Join(out, "allocation.svg"), len(profiles))

	// Determinism: the same seeds give the same numbers, however many runs go at once.
	out2 := t.TempDir()
	code, _, stderr = run(t, "inflate", "--nodes", filepath.Join(exampleDir, "cluster.yaml"), "--pods", filepath.Join(exampleDir, "workload.yaml"),
		"--config", repoConfig, "--seeds", "42-43", "--parallel", "3", "--out", out2)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	a, b := runsWithoutWall(t, m), runsWithoutWall(t, readSummary(t, out2))
	if !reflect.DeepEqual(a, b) {
		t.Errorf("same seeds, different results:\n%v\n%v", a, b)
	}
	for _, p := range []string{"bestfit", "fgd"} {
		ta, _ := os.ReadFile(filepath.Join(out, TimelineFile(p, 43)))
		tb, _ := os.ReadFile(filepath.Join(out2, TimelineFile(p, 43)))
		if len(ta) == 0 || !bytes.Equal(ta, tb) {
			t.Errorf("%s: same seed, different timelines", p)
		}
	}
}

// checkSVG parses the chart as XML and counts its polylines.
func checkSVG(t *testing.T, path string, lines int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := xml.NewDecoder(f)
	polylines, root := 0, ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s is not well-formed XML: %v", path, err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			if se.Name.Local == "polyline" {
				polylines++
			}
		}
	}
	if root != "svg" || polylines != lines {
		t.Errorf("%s: root %q with %d polylines, want svg with %d", path, root, polylines, lines)
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMessyCSV(t *testing.T) {
	dir := t.TempDir()
	nodes := writeFile(t, dir, "nodes.csv", "sn,cpu_milli,memory_mib,gpu,model\nn1,32000,131072,2,T4\nn2,32000,131072,two,T4\nn3,64000,262144,8,V100M32\n")
	pods := writeFile(t, dir, "pods.csv", openBHeader+"\n"+
		"p0,4000,8192,1,1000,,LS,Running,0,100,0\n"+
		"p1,2000,4096,1,500,,LS,Running,5,50,5\n"+
		"p2,2000,4096,1,1500,,LS,Running,6,50,6\n"+ // gpu_milli above 1000
		"p3,8000,16384,2,1000,,BE,Running,7,,7\n"+
		"p4,1000,1024,0,0,,BE,Running,8,9,8\n")
	out := filepath.Join(dir, "out")
	code, stdout, stderr := run(t, "inflate", "--nodes", nodes, "--pods", pods, "--profiles", "default,bestfit", "--seeds", "1,5", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "skipped 2 unusable input rows") || !strings.Contains(stderr, "nodes.csv:3:") {
		t.Errorf("stderr does not report the skips:\n%s", stderr)
	}
	m := readSummary(t, out)
	if m["skipped_rows"].(float64) != 2 {
		t.Errorf("skipped_rows = %v, want 2", m["skipped_rows"])
	}
	if n := len(m["skipped_reasons"].(map[string]any)); n != 2 {
		t.Errorf("skipped_reasons = %v, want 2 kinds", m["skipped_reasons"])
	}
	if m["trace"].(map[string]any)["fractional_pods"].(float64) != 1 {
		t.Errorf("fractional_pods = %v, want 1", m["trace"])
	}
	if !strings.Contains(stdout, "bestfit") {
		t.Errorf("no table:\n%s", stdout)
	}
	checkSVG(t, filepath.Join(out, "allocation.svg"), 2)

	// --strict makes the bad row an error.
	code, _, stderr = run(t, "inflate", "--nodes", nodes, "--pods", pods, "--profiles", "default", "--strict", "--out", out)
	if code != 1 || !strings.Contains(stderr, `nodes.csv:3: column gpu: "two"`) {
		t.Errorf("strict: exit %d\n%s", code, stderr)
	}

	// Replay the same trace: it has times.
	rout := filepath.Join(dir, "replay")
	code, stdout, stderr = run(t, "replay", "--nodes", nodes, "--pods", pods, "--profiles", "bestfit", "--out", rout)
	if code != 0 {
		t.Fatalf("replay: exit %d\n%s", code, stderr)
	}
	rm := readSummary(t, rout)
	rr := rm["runs"].([]any)[0].(map[string]any)
	for _, f := range []string{"queue_delay_mean_s", "queue_delay_p50_s", "queue_delay_p95_s", "queue_delay_max_s", "pods_never_placed", "gpu_alloc_pct_mean"} {
		if _, ok := rr[f]; !ok {
			t.Errorf("replay run lacks %q", f)
		}
	}
	if rr["pods_scheduled"].(float64) != 4 {
		t.Errorf("replay placed %v pods, want 4", rr["pods_scheduled"])
	}
	data, err := os.ReadFile(filepath.Join(rout, ReplayFile("bestfit", 42)))
	if err != nil || !strings.HasPrefix(string(data), "time_s,alloc_pct,running,queued\n") {
		t.Errorf("replay timeline: %v %q", err, data)
	}
	checkSVG(t, filepath.Join(rout, "utilisation.svg"), 1)
	if !strings.Contains(stdout, "never placed") {
		t.Errorf("no replay table:\n%s", stdout)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	nodes := writeFile(t, dir, "nodes.csv", "sn,cpu_milli,memory_mib,gpu,model\nn1,32000,131072,2,T4\n")
	noTimes := writeFile(t, dir, "multigpu.csv", "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,1000,1024,1,1000\n")
	out := filepath.Join(dir, "out")
	for _, tc := range []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"nonexistent pods", []string{"inflate", "--nodes", nodes, "--pods", filepath.Join(dir, "missing.csv"), "--profiles", "default", "--out", out}, 1, "missing.csv: no such file"},
		{"nonexistent nodes", []string{"inflate", "--nodes", filepath.Join(dir, "missing.yaml"), "--pods", noTimes, "--profiles", "default", "--out", out}, 1, "--nodes: open"},
		{"unknown extension", []string{"inflate", "--nodes", nodes, "--pods", filepath.Join(dir, "p.json"), "--profiles", "default", "--out", out}, 1, "unknown format"},
		{"pods as nodes", []string{"inflate", "--nodes", noTimes, "--pods", noTimes, "--profiles", "default", "--out", out}, 1, "--nodes"},
		{"unknown profile", []string{"inflate", "--nodes", nodes, "--pods", noTimes, "--config", repoConfig, "--profiles", "kai", "--out", out}, 1, "available: gpu-scheduler, default, bestfit, fgd"},
		{"replay without times", []string{"replay", "--nodes", nodes, "--pods", noTimes, "--profiles", "default", "--out", out}, 1, "no creation or deletion times"},
		{"bad seeds", []string{"inflate", "--nodes", nodes, "--pods", noTimes, "--seeds", "9-1", "--out", out}, 2, "--seeds"},
		{"unknown mode", []string{"simulate"}, 2, `unknown mode "simulate"`},
		{"no args", nil, 2, "Usage:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.err) {
				t.Errorf("exit %d, want %d; stderr lacks %q:\n%s", code, tc.code, tc.err, stderr)
			}
		})
	}
	// The inflate run on the five-column file works: no times are needed.
	if code, _, stderr := run(t, "inflate", "--nodes", nodes, "--pods", noTimes, "--profiles", "default", "--out", out); code != 0 {
		t.Errorf("inflate without times: exit %d\n%s", code, stderr)
	}
}

func TestHelpAndVersion(t *testing.T) {
	code, stdout, _ := run(t, "--version")
	if code != 0 || stdout != "gpu-sim test\n" {
		t.Errorf("--version: %d %q", code, stdout)
	}
	code, stdout, _ = run(t, "--help")
	if code != 0 || !strings.Contains(stdout, "Example:") || !strings.Contains(stdout, "gpu-sim inflate --nodes") {
		t.Errorf("--help: %d %q", code, stdout)
	}
	code, _, stderr := run(t, "replay", "--help")
	if code != 0 || !strings.Contains(stderr, "-retry-cap") || !strings.Contains(stderr, "Example:") {
		t.Errorf("replay --help: %d %q", code, stderr)
	}
}

func TestSampleIndexes(t *testing.T) {
	if got := sampleIndexes(3, 5); !reflect.DeepEqual(got, []int{0, 1, 2}) {
		t.Errorf("short: %v", got)
	}
	got := sampleIndexes(10_001, 2000)
	if len(got) != 2000 || got[0] != 0 || got[len(got)-1] != 10_000 {
		t.Errorf("long: %d indexes, first %d last %d", len(got), got[0], got[len(got)-1])
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("not increasing at %d: %v", i, got[i-1:i+1])
		}
	}
}

func TestMeanStddev(t *testing.T) {
	m, sd := meanStddev([]float64{2, 4, 4, 4, 5, 5, 7, 9})
	if m != 5 || sd < 2.138 || sd > 2.139 {
		t.Errorf("got %v ± %v, want 5 ± 2.138 (sample)", m, sd)
	}
	if m, sd := meanStddev([]float64{3}); m != 3 || sd != 0 {
		t.Errorf("one value: %v ± %v", m, sd)
	}
}

func TestFailedByReason(t *testing.T) {
	type run struct {
		profile string
		reasons map[string]int
	}
	runs := []run{
		{"a", map[string]int{"Insufficient free GPUs": 10, "node(s) have no GPUs": 3}},
		{"a", map[string]int{"Insufficient free GPUs": 20}},
		{"b", map[string]int{"Insufficient free GPU share": 4}},
		{"b", nil},
	}
	got := FailedByReason([]string{"b", "a"}, runs, func(r run) (string, map[string]int) { return r.profile, r.reasons })
	want := []ReasonCount{
		{"b", "Insufficient free GPU share", 2},
		{"a", "Insufficient free GPUs", 15},
		{"a", "node(s) have no GPUs", 1.5},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("FailedByReason = %v, want %v", got, want)
	}
	var b strings.Builder
	PrintFailedByReason(&b, got)
	for _, line := range []string{"b        2     Insufficient free GPU share", "a        15    Insufficient free GPUs"} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("table lacks %q:\n%s", line, b.String())
		}
	}
}

// TestInflateDRACluster runs the example cluster whose A100 nodes publish their 32 GPUs through DRA:
// they count among the cluster's GPUs and take Pods, so allocation passes what the 52 device-plugin
// GPUs alone could hold.
func TestInflateDRACluster(t *testing.T) {
	out := t.TempDir()
	code, _, stderr := run(t, "inflate", "--nodes", filepath.Join(exampleDir, "cluster-dra.yaml"), "--pods", filepath.Join(exampleDir, "workload.yaml"),
		"--config", repoConfig, "--profiles", "gpu-scheduler,default", "--seeds", "42", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "28 nodes, 84 GPUs") {
		t.Errorf("stderr does not count 84 GPUs on 28 nodes:\n%s", stderr)
	}
	for _, r := range readSummary(t, out)["runs"].([]any) {
		run := r.(map[string]any)
		if total, alloc := run["gpu_total"].(float64), run["gpu_alloc_pct_at_100"].(float64); total != 84 || alloc <= 100*52.0/84 {
			t.Errorf("%v: %v GPUs, %.2f%% allocated at 100%%; want 84, and more than the device-plugin GPUs' 61.90%%", run["profile"], total, alloc)
		}
	}
}

// TestWhatIfCLI runs whatif on a small snapshot: whatif.json holds a run per profile and seed,
// placements.csv where each placed pending Pod went, stdout the table; a workload that names no
// node is not a snapshot.
func TestWhatIfCLI(t *testing.T) {
	dir := t.TempDir()
	nodes, pods, plain := filepath.Join(dir, "cluster.yaml"), filepath.Join(dir, "workload.yaml"), filepath.Join(dir, "plain.yaml")
	for path, text := range map[string]string{
		nodes: "nodes:\n- {name: gpu, count: 2, cpu: \"64\", memory: 512Gi, gpus: 4}\n",
		pods: "pods:\n- {name: a, cpu: \"4\", gpus: 3, node: gpu-0, createdAt: 0}\n- {name: b, cpu: \"4\", gpus: 3, node: gpu-1, createdAt: 1}\n" +
			"- {name: c, cpu: \"4\", gpus: 2, createdAt: 2}\n- {name: d, cpu: \"4\", gpus: 1, createdAt: 3}\n",
		plain: "pods:\n- {name: a, cpu: \"4\", gpus: 3}\n",
	} {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out")
	code, stdout, stderr := run(t, "whatif", "--nodes", nodes, "--pods", pods, "--config", repoConfig, "--profiles", "gpu-scheduler,default", "--seeds", "1-2", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "pending GPU Pods placed") || !strings.Contains(stdout, "1/2") {
		t.Errorf("table (want d placed, c not: 1 free GPU per node):\n%s", stdout)
	}
	data, err := os.ReadFile(filepath.Join(out, WhatIfSummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	var sum WhatIfSummary
	if err := json.Unmarshal(data, &sum); err != nil {
		t.Fatal(err)
	}
	if len(sum.Runs) != 4 || sum.Bound != 2 || sum.Pending != 2 {
		t.Fatalf("%d runs, %d bound, %d pending; want 4, 2, 2", len(sum.Runs), sum.Bound, sum.Pending)
	}
	csvData, err := os.ReadFile(filepath.Join(out, WhatIfPlacementsFile))
	if err != nil {
		t.Fatal(err)
	}
	if rows := strings.Count(string(csvData), ",d,gpu-"); rows != 4 {
		t.Errorf("placements.csv places d %d times, want once per run:\n%s", rows, csvData)
	}
	svg, err := os.ReadFile(filepath.Join(out, WhatIfChartFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(svg, new(struct{})); err != nil {
		t.Errorf("whatif.svg is not XML: %v", err)
	}
	// Today is one series (both profiles keep both Pods), then one per profile from empty; a bar per
	// series for each of allocation, fragmentation and stranded GPUs.
	for _, want := range []string{">today<", ">from empty: gpu-scheduler<", ">from empty: default<", ">stranded GPUs<"} {
		if !strings.Contains(string(svg), want) {
			t.Errorf("whatif.svg lacks %q", want)
		}
	}
	if bars := strings.Count(string(svg), "<title>"); bars != 9 {
		t.Errorf("whatif.svg has %d bars, want 3 series x 3 groups", bars)
	}
	if code, _, stderr := run(t, "whatif", "--nodes", nodes, "--pods", plain, "--config", repoConfig, "--out", out); code != 1 || !strings.Contains(stderr, "no Pod names its node") {
		t.Errorf("a workload without nodes: exit %d\n%s", code, stderr)
	}
}
