package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	basecompatibility "k8s.io/component-base/compatibility"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config"
	configv1 "github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config/v1"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
)

const shippedConfig = "../../config/scheduler-config.yaml"

// setup runs kube-scheduler's own Setup on a config file, as the binary does at start: decoding,
// defaulting, validation and every plugin's New.
func setup(t *testing.T, configYAML string) (*schedconfig.KubeSchedulerProfile, error) {
	profile, _, err := setupWithPlugins(t, configYAML)
	return profile, err
}

// setupWithPlugins also returns the plugins the framework built for the profile, per extension point,
// after multiPoint expansion.
func setupWithPlugins(t *testing.T, configYAML string) (*schedconfig.KubeSchedulerProfile, *schedconfig.Plugins, error) {
	t.Helper()
	kubeconfig, err := filepath.Abs("../../config/local-kubeconfig.yaml")
	if err != nil {
		t.Fatal(err)
	}
	configYAML = strings.Replace(configYAML, "kubeconfig: config/local-kubeconfig.yaml", "kubeconfig: "+kubeconfig, 1)
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(configYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := options.NewOptionsWithComponentGlobalsRegistry(basecompatibility.NewComponentGlobalsRegistry())
	if err := opts.ComponentGlobalsRegistry.Set(); err != nil {
		t.Fatal(err)
	}
	opts.ConfigFile = path
	opts.SecureServing.Listener, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = opts.SecureServing.Listener.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cc, sched, err := app.Setup(ctx, opts, registryOptions()...)
	if err != nil {
		return nil, nil, err
	}
	if len(sched.Profiles) != 1 || sched.Profiles["gpu-scheduler"] == nil {
		t.Fatalf("profiles = %v, want exactly gpu-scheduler", len(sched.Profiles))
	}
	for i := range cc.ComponentConfig.Profiles {
		if cc.ComponentConfig.Profiles[i].SchedulerName == "gpu-scheduler" {
			return &cc.ComponentConfig.Profiles[i], sched.Profiles["gpu-scheduler"].ListPlugins(), nil
		}
	}
	t.Fatal("no gpu-scheduler profile in the completed config")
	return nil, nil, nil
}

func readShipped(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(shippedConfig)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestShippedConfigExpands(t *testing.T) {
	profile, plugins, err := setupWithPlugins(t, readShipped(t))
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	enabled := func(set schedconfig.PluginSet) map[string]int32 {
		m := map[string]int32{}
		for _, p := range set.Enabled {
			m[p.Name] = p.Weight
		}
		return m
	}
	points := map[string]map[string]int32{
		"preFilter":  enabled(plugins.PreFilter),
		"filter":     enabled(plugins.Filter),
		"preScore":   enabled(plugins.PreScore),
		"score":      enabled(plugins.Score),
		"reserve":    enabled(plugins.Reserve),
		"preBind":    enabled(plugins.PreBind),
		"permit":     enabled(plugins.Permit),
		"postFilter": enabled(plugins.PostFilter),
		"queueSort":  enabled(plugins.QueueSort),
	}
	want := map[string][]string{
		"preFilter":  {"GPUFit", "GPUModel", "Interconnect", "AntiStranding", "NodeResourcesFit"},
		"filter":     {"GPUFit", "GPUModel", "Interconnect", "AntiStranding", "NodeResourcesFit"},
		"preScore":   {"Interconnect", "GPUBinPacking", "GPUFragmentation"},
		"score":      {"Interconnect", "GPUBinPacking", "GPUFragmentation", "NodeResourcesFit"},
		"reserve":    {"GPUFit", "Coscheduling"},
		"preBind":    {"GPUFit"},
		"permit":     {"Coscheduling"},
		"postFilter": {"GPUFit", "Coscheduling"},
		"queueSort":  {"Coscheduling"},
	}
	for point, names := range want {
		for _, n := range names {
			if _, ok := points[point][n]; !ok {
				t.Errorf("%s: %s not enabled (have %v)", point, n, points[point])
			}
		}
	}
	if _, on := points["preFilter"]["Coscheduling"]; on {
		t.Error("Coscheduling's PreFilter should be off (throughput; see the config's comment)")
	}
	if _, on := points["score"]["NodeResourcesBalancedAllocation"]; on {
		t.Error("NodeResourcesBalancedAllocation should be off (it works against packing; see the config's comment)")
	}
	// The checks the Pod's own spec decides run first, so a node is counted under the reason that
	// matters to the Pod, then the capacity checks, GPUFit first: it rejects most nodes of a busy
	// GPU cluster in a few integer comparisons where NodeResourcesFit's Filter costs microseconds.
	var filterOrder []string
	for _, p := range plugins.Filter.Enabled {
		filterOrder = append(filterOrder, p.Name)
	}
	wantFirst := []string{"NodeName", "NodeUnschedulable", "NodeAffinity", "TaintToleration", "NodePorts",
		"GPUModel", "Interconnect", "GPUFit", "NodeResourcesFit", "AntiStranding"}
	if len(filterOrder) < len(wantFirst) || fmt.Sprint(filterOrder[:len(wantFirst)]) != fmt.Sprint(wantFirst) {
		t.Errorf("filter order = %v, want it to start %v", filterOrder, wantFirst)
	}
	if _, on := points["preScore"]["AntiStranding"]; on {
		t.Error("AntiStranding's PreScore should be off with its Score")
	}
	if _, on := points["score"]["AntiStranding"]; on {
		t.Error("AntiStranding should filter but not score (GPUFragmentation counts stranded GPUs; see the config's comment)")
	}
	if p := profile.PercentageOfNodesToScore; p == nil || *p != 10 {
		t.Errorf("percentageOfNodesToScore = %v, want 10 (see the config's comment)", p)
	}
	for name, weight := range map[string]int32{"Interconnect": 3, "GPUBinPacking": 2, "GPUFragmentation": 40, "NodeResourcesFit": 2} {
		if got := points["score"][name]; got != weight {
			t.Errorf("score weight of %s = %d, want %d", name, got, weight)
		}
	}

	args := map[string]interface{}{}
	for _, pc := range profile.PluginConfig {
		args[pc.Name] = pc.Args
	}
	if a, ok := args["GPUModel"].(*config.GPUModelArgs); !ok || a.ModelLabel != gpu.DefaultModelLabel {
		t.Errorf("GPUModel args = %#v", args["GPUModel"])
	}
	ic, ok := args["Interconnect"].(*config.InterconnectArgs)
	if !ok || len(ic.Interconnects) != len(configv1.DefaultInterconnects()) {
		t.Fatalf("Interconnect args = %#v", args["Interconnect"])
	}
	for i, d := range configv1.DefaultInterconnects() {
		if ic.Interconnects[i].Name != d.Name || len(ic.Interconnects[i].NodeLabels) != len(d.NodeLabels) {
			t.Errorf("interconnect %d = %+v, want the default %+v", i, ic.Interconnects[i], d)
		}
	}
	as, ok := args["AntiStranding"].(*config.AntiStrandingArgs)
	if !ok || as.CPUPerGPU.Cmp(configv1.DefaultCPUPerGPU) != 0 || as.MemoryPerGPU.Cmp(configv1.DefaultMemoryPerGPU) != 0 {
		t.Errorf("AntiStranding args = %#v", args["AntiStranding"])
	}
	frag, ok := args["GPUFragmentation"].(*config.GPUFragmentationArgs)
	if !ok || frag.WindowSize != configv1.DefaultWindowSize || frag.ModelLabel != gpu.DefaultModelLabel || len(frag.Workload) != 0 ||
		frag.StrandedPercent != configv1.DefaultStrandedPercent || frag.ScarcityPercent != configv1.DefaultScarcityPercent {
		t.Errorf("GPUFragmentation args = %#v", args["GPUFragmentation"])
	}
	fit, ok := args["NodeResourcesFit"].(*schedconfig.NodeResourcesFitArgs)
	if !ok || len(fit.IgnoredResources) != 1 || fit.IgnoredResources[0] != string(gpu.ResourceName) {
		t.Errorf("NodeResourcesFit must leave nvidia.com/gpu to GPUFit: %#v", args["NodeResourcesFit"])
	}
}

// The shipped config spells out every default: a config without our pluginConfig must expand to the
// same args.
func TestShippedConfigShowsTheDefaults(t *testing.T) {
	bare := readShipped(t)
	bare = bare[:strings.Index(bare, "  - name: GPUModel\n    args:")]
	profile, err := setup(t, bare)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	shipped, err := setup(t, readShipped(t))
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	byName := func(p *schedconfig.KubeSchedulerProfile) map[string]string {
		m := map[string]string{}
		for _, pc := range p.PluginConfig {
			m[pc.Name] = strings.TrimSpace(strings.ReplaceAll(fmtArgs(pc.Args), "\n", " "))
		}
		return m
	}
	got, want := byName(profile), byName(shipped)
	for _, name := range []string{"GPUModel", "Interconnect", "AntiStranding", "GPUFragmentation"} {
		if got[name] == "" || got[name] != want[name] {
			t.Errorf("%s: defaults %s, shipped %s", name, got[name], want[name])
		}
	}
}

func TestBadArgsStopStartup(t *testing.T) {
	tests := []struct {
		name, from, to, wantField string
	}{
		{name: "duplicate interconnect", from: "      - name: roce\n", to: "      - name: infiniband\n",
			wantField: "pluginConfig.Interconnect.args.interconnects[1].name"},
		{name: "negative CPU per GPU", from: `cpuPerGPU: "12"`, to: `cpuPerGPU: "-1"`,
			wantField: "pluginConfig.AntiStranding.args.cpuPerGPU"},
		{name: "bad model label", from: "modelLabel: nvidia.com/gpu.product", to: "modelLabel: not//a/label",
			wantField: "pluginConfig.GPUModel.args.modelLabel"},
		{name: "unknown arg field", from: "modelLabel: nvidia.com/gpu.product", to: "modelLabels: nvidia.com/gpu.product",
			wantField: `unknown field "modelLabels"`},
		{name: "zero window", from: "windowSize: 2000", to: "windowSize: 0",
			wantField: "pluginConfig.GPUFragmentation.args.windowSize"},
		{name: "stranded percent over 100", from: "strandedPercent: 50", to: "strandedPercent: 150",
			wantField: "pluginConfig.GPUFragmentation.args.strandedPercent"},
		{name: "negative scarcity percent", from: "scarcityPercent: 100", to: "scarcityPercent: -1",
			wantField: "pluginConfig.GPUFragmentation.args.scarcityPercent"},
		{name: "malformed quantity", from: "memoryPerGPU: 48Gi", to: "memoryPerGPU: eight",
			wantField: "decoding args for plugin AntiStranding"},
	}
	shipped := readShipped(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(shipped, tt.from) {
				t.Fatalf("shipped config has no %q", tt.from)
			}
			_, err := setup(t, strings.Replace(shipped, tt.from, tt.to, 1))
			if err == nil || !strings.Contains(err.Error(), tt.wantField) {
				t.Fatalf("error = %v, want one naming %s", err, tt.wantField)
			}
		})
	}
}

func fmtArgs(obj interface{}) string {
	switch a := obj.(type) {
	case *config.GPUModelArgs:
		return a.ModelLabel
	case *config.InterconnectArgs:
		var b strings.Builder
		for _, ic := range a.Interconnects {
			b.WriteString(ic.Name)
			for _, l := range ic.NodeLabels {
				b.WriteString(" " + l.Key + "=" + l.Value)
			}
			b.WriteString(";")
		}
		return b.String()
	case *config.AntiStrandingArgs:
		return a.CPUPerGPU.String() + " " + a.MemoryPerGPU.String()
	case *config.GPUFragmentationArgs:
		return fmt.Sprint(a.WindowSize, " ", a.ModelLabel, " ", len(a.Workload), " ", a.StrandedPercent, " ", a.ScarcityPercent)
	}
	return ""
}
