package perf

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	componentbaseconfig "k8s.io/component-base/config"
	"k8s.io/kubernetes/pkg/scheduler/apis/config"
	"k8s.io/kubernetes/pkg/scheduler/apis/config/scheme"
	"k8s.io/kubernetes/pkg/scheduler/apis/config/validation"
	"sigs.k8s.io/yaml"
)

// decodeSchedulerConfig decodes (and defaults) a KubeSchedulerConfiguration as scheduler_perf does.
func decodeSchedulerConfig(t *testing.T, data []byte) *config.KubeSchedulerConfiguration {
	t.Helper()
	obj, gvk, err := scheme.Codecs.UniversalDecoder().Decode(data, nil, nil)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	cfg, ok := obj.(*config.KubeSchedulerConfiguration)
	if !ok {
		t.Fatalf("decoded %s, not a KubeSchedulerConfiguration", gvk)
	}
	return cfg
}

// TestPerfSchedulerConfig: the config the gpu-scheduler test case runs is config/scheduler-config.yaml's
// gpu-scheduler profile under the name scheduler_perf's Pods use, with the same plugins and pluginConfig,
// and it passes kube-scheduler's validation as scheduler_perf applies it.
func TestPerfSchedulerConfig(t *testing.T) {
	dir := t.TempDir()
	perfConfig, err := writePerfConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	type testCase struct {
		Name                string
		SchedulerConfigPath string
		WorkloadTemplate    []map[string]any
		Workloads           []struct{ Name string }
	}
	sources := map[string][]testCase{}
	for _, v := range Variants {
		sources[v.Config] = nil
	}
	for file := range sources {
		var testCases []testCase
		readYAML(t, file, &testCases) // the source: names the real config
		if len(testCases) != 2 || testCases[0].Name != ProfileDefault || testCases[1].Name != ProfileGPUScheduler {
			t.Fatalf("%s: want test cases [%s %s], got %+v", file, ProfileDefault, ProfileGPUScheduler, testCases)
		}
		if p := testCases[0].SchedulerConfigPath; p != "" {
			t.Errorf("%s: %s runs kube-scheduler's defaults; has schedulerConfigPath %q", file, ProfileDefault, p)
		}
		if got, want := filepath.Clean(testCases[1].SchedulerConfigPath), filepath.Join("..", "..", "config", "scheduler-config.yaml"); got != want {
			t.Errorf("%s: %s: schedulerConfigPath %q, want %q", file, ProfileGPUScheduler, got, want)
		}
		if !reflect.DeepEqual(testCases[0].WorkloadTemplate, testCases[1].WorkloadTemplate) || !reflect.DeepEqual(testCases[0].Workloads, testCases[1].Workloads) {
			t.Errorf("%s: the two test cases run different workloads", file)
		}
		sources[file] = testCases
	}
	for variant, v := range Variants {
		found := false
		for _, tw := range sources[v.Config][0].Workloads {
			found = found || tw.Name == v.Workload
		}
		if !found {
			t.Errorf("variant %s: no workload %s in %s", variant, v.Workload, v.Config)
		}
	}

	var testCases []testCase
	readYAML(t, perfConfig, &testCases) // what scheduler_perf gets
	derived, err := os.ReadFile(testCases[1].SchedulerConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	source, err := os.ReadFile("../../config/scheduler-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, want := decodeSchedulerConfig(t, derived), decodeSchedulerConfig(t, source)
	if err := validation.ValidateKubeSchedulerConfiguration(got); err != nil {
		t.Fatalf("derived config does not validate: %v", err)
	}
	if len(got.Profiles) != 1 || got.Profiles[0].SchedulerName != perfSchedulerName {
		t.Fatalf("want one profile %q, got %d: %+v", perfSchedulerName, len(got.Profiles), got.Profiles)
	}
	var wantProfile *config.KubeSchedulerProfile
	for i := range want.Profiles {
		if want.Profiles[i].SchedulerName == sourceProfile {
			wantProfile = &want.Profiles[i]
		}
	}
	if wantProfile == nil {
		t.Fatalf("config/scheduler-config.yaml has no profile %q", sourceProfile)
	}
	// The same plugins and args, but for Coscheduling, whose queue sort gives way to the default
	// (multiPoint's PrioritySort).
	if q := got.Profiles[0].Plugins.QueueSort; len(q.Enabled)+len(q.Disabled) != 0 {
		t.Errorf("queueSort %+v, want kube-scheduler's default", q)
	}
	gotPlugins, wantPlugins := *got.Profiles[0].Plugins, *wantProfile.Plugins
	gotPlugins.QueueSort, wantPlugins.QueueSort = config.PluginSet{}, config.PluginSet{}
	for _, set := range []*config.PluginSet{&wantPlugins.MultiPoint, &wantPlugins.PreFilter, &wantPlugins.PostFilter,
		&wantPlugins.Permit, &wantPlugins.Reserve} {
		set.Enabled, set.Disabled = withoutGangPlugin(set.Enabled), withoutGangPlugin(set.Disabled)
	}
	if !reflect.DeepEqual(gotPlugins, wantPlugins) {
		t.Errorf("plugins differ:\n got %+v\nwant %+v", gotPlugins, wantPlugins)
	}
	var wantConfig []config.PluginConfig
	for _, pc := range wantProfile.PluginConfig {
		if pc.Name != gangPlugin {
			wantConfig = append(wantConfig, pc)
		}
	}
	if !reflect.DeepEqual(got.Profiles[0].PluginConfig, wantConfig) {
		t.Errorf("pluginConfig differs:\n got %s\nwant %s", pluginConfigString(got.Profiles[0].PluginConfig), pluginConfigString(wantConfig))
	}
	if text := string(derived); strings.Contains(text, gangPlugin) {
		t.Errorf("derived config names %s:\n%s", gangPlugin, text)
	}
	// Everything else but the client connection is kept.
	gotRest, wantRest := *got, *want
	gotRest.Profiles, wantRest.Profiles = nil, nil
	gotRest.ClientConnection, wantRest.ClientConnection = componentbaseconfig.ClientConnectionConfiguration{}, componentbaseconfig.ClientConnectionConfiguration{}
	if !reflect.DeepEqual(gotRest, wantRest) {
		t.Errorf("top-level settings differ:\n got %+v\nwant %+v", gotRest, wantRest)
	}
}

func withoutGangPlugin(plugins []config.Plugin) []config.Plugin {
	var out []config.Plugin
	for _, p := range plugins {
		if p.Name != gangPlugin {
			out = append(out, p)
		}
	}
	return out
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func pluginConfigString(pcs []config.PluginConfig) string {
	out := ""
	for _, pc := range pcs {
		b, _ := json.Marshal(pc.Args)
		out += pc.Name + ": " + string(b) + "\n"
	}
	return out
}

func TestParseDataItems(t *testing.T) {
	data := []byte(`{"version":"v1","dataItems":[
	  {"data":{"Average":212.5,"Perc50":210},"unit":"pods/s","labels":{"Metric":"SchedulingThroughput","Name":"BenchmarkPerfScheduling/gpu-scheduler/500Nodes_1000Pods/namespace-1"}},
	  {"data":{"Average":230},"unit":"pods/s","labels":{"Metric":"SchedulingThroughput","Name":"default/500Nodes_1000Pods/namespace-1"}},
	  {"data":{"Average":3.1},"unit":"ms","labels":{"Metric":"scheduler_scheduling_attempt_duration_seconds","Name":"default/500Nodes_1000Pods/namespace-1"}}]}`)
	got, err := ParseDataItems(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []Sample{{ProfileGPUScheduler, "500Nodes_1000Pods", 212.5, nil}, {ProfileDefault, "500Nodes_1000Pods", 230, nil}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestWriteThroughputJSON(t *testing.T) {
	samples := []Sample{
		{ProfileDefault, "500Nodes_1000Pods", 200, nil}, {ProfileGPUScheduler, "500Nodes_1000Pods", 190, nil},
		{ProfileDefault, "500Nodes_1000Pods", 220, nil}, {ProfileGPUScheduler, "500Nodes_1000Pods", 180, nil},
		{ProfileDefault, "500Nodes_1000Pods", 210, nil}, {ProfileGPUScheduler, "500Nodes_1000Pods", 199.5, nil},
		{ProfileDefault, "5000Nodes_10000Pods", 100, nil},
	}
	s, err := Summarize("500Nodes_1000Pods", samples)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bench", "throughput.json")
	if err := WriteThroughputJSON(path, s); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"default_pods_per_s": 210.0, "gpu_scheduler_pods_per_s": 190.0, "ratio": 0.905,
		"nodes": 500.0, "pods": 1000.0, "variant": "short",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v (%T), want %v", k, got[k], got[k], v)
		}
	}

	if _, err := Summarize("5000Nodes_10000Pods", samples); err == nil {
		t.Error("Summarize with runs of one profile only: want an error")
	}
	if _, ok := got["default_runs_batch_hints_used"]; ok {
		t.Errorf("batch hints written where no run counted them: %v", got)
	}
}

// Batch hints are summarised per run where every run counted them, and left out otherwise.
func TestSummarizeBatchHints(t *testing.T) {
	n := func(i int) *int { return &i }
	samples := []Sample{
		{ProfileDefault, "500Nodes_1000Pods", 200, n(0)}, {ProfileGPUScheduler, "500Nodes_1000Pods", 190, n(120)},
		{ProfileGPUScheduler, "500Nodes_1000Pods", 180, n(117)}, {ProfileDefault, "500Nodes_1000Pods", 220, n(0)},
	}
	s, err := Summarize("500Nodes_1000Pods", samples)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.DefaultHintsUsed, []int{0, 0}) || !reflect.DeepEqual(s.GPUSchedulerHintsUsed, []int{120, 117}) {
		t.Errorf("hints: default %v, gpu-scheduler %v; want [0 0] and [120 117]", s.DefaultHintsUsed, s.GPUSchedulerHintsUsed)
	}
	if !strings.Contains(s.String(), "gpu-scheduler [120 117]") {
		t.Errorf("summary line %q does not report the hints", s)
	}
	samples[3].HintsUsed = nil
	if s, _ := Summarize("500Nodes_1000Pods", samples); s.DefaultHintsUsed != nil || s.GPUSchedulerHintsUsed != nil || strings.Contains(s.String(), "hint") {
		t.Errorf("one run without a count: hints %v %v, line %q; want none", s.DefaultHintsUsed, s.GPUSchedulerHintsUsed, s)
	}
}

// A run with batching off says so, and writes a file of its own beside the batching one.
func TestSummaryNamesBatching(t *testing.T) {
	s := Summary{Variant: "full", Batching: true}
	if s.FileVariant() != "full" || !strings.Contains(s.String(), "batching on") {
		t.Errorf("batching on: file %q, line %q", s.FileVariant(), s.String())
	}
	s.Batching = false
	if s.FileVariant() != "full-nobatching" || !strings.Contains(s.String(), "batching off") {
		t.Errorf("batching off: file %q, line %q", s.FileVariant(), s.String())
	}
}

// The samples of a command's processes add up in one file, in order.
func TestAppendAndReadSamples(t *testing.T) {
	path := filepath.Join(t.TempDir(), samplesFile)
	first := []Sample{{ProfileDefault, "5000Nodes_10000Pods", 120.5, nil}}
	hints := 1245
	second := []Sample{{ProfileGPUScheduler, "5000Nodes_10000Pods", 130.25, &hints}, {ProfileGPUScheduler, "500Nodes_1000Pods", 300, nil}}
	for _, s := range [][]Sample{first, second} {
		if err := AppendSamples(path, s); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ReadSamples(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(first, second...); !reflect.DeepEqual(got, want) {
		t.Errorf("read %+v, want %+v", got, want)
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSamples(path); err == nil || !strings.Contains(err.Error(), samplesFile) {
		t.Errorf("a broken file: %v, want an error naming it", err)
	}
}
