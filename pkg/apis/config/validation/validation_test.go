package validation

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config"
)

var root = field.NewPath("pluginConfig", "X", "args")

// fieldErr is what a test expects of one error: its type and its full field path.
type fieldErr struct {
	Type  field.ErrorType
	Field string
}

func (e fieldErr) String() string { return fmt.Sprintf("%s %s", e.Field, e.Type) }

// fieldErrs flattens what a Validate function returned into comparable type and path pairs.
func fieldErrs(t *testing.T, err error) []fieldErr {
	t.Helper()
	if err == nil {
		return nil
	}
	var agg utilerrors.Aggregate
	if !errors.As(err, &agg) {
		t.Fatalf("error %v is not an aggregate", err)
	}
	var out []fieldErr
	for _, e := range agg.Errors() {
		var fe *field.Error
		if !errors.As(e, &fe) {
			t.Fatalf("error %v is not a *field.Error", e)
		}
		out = append(out, fieldErr{Type: fe.Type, Field: fe.Field})
	}
	return out
}

func check(t *testing.T, err error, want []fieldErr) {
	t.Helper()
	if got := fieldErrs(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("errors = %v, want %v (error: %v)", got, want, err)
	}
}

func TestValidateGPUModelArgs(t *testing.T) {
	const path = "pluginConfig.X.args.modelLabel"
	tests := []struct {
		name  string
		label string
		want  []fieldErr
	}{
		{name: "default label", label: "nvidia.com/gpu.product"},
		{name: "unprefixed label", label: "gpu-model"},
		{name: "63-character name", label: "example.com/" + strings.Repeat("m", 63)},
		{name: "empty", label: "", want: []fieldErr{{field.ErrorTypeRequired, path}}},
		{name: "space", label: "gpu model", want: []fieldErr{{field.ErrorTypeInvalid, path}}},
		{name: "two slashes", label: "a/b/c", want: []fieldErr{{field.ErrorTypeInvalid, path}}},
		// IsQualifiedName reports an empty name part twice: empty, and not matching the pattern.
		{name: "empty name after prefix", label: "example.com/", want: []fieldErr{{field.ErrorTypeInvalid, path}, {field.ErrorTypeInvalid, path}}},
		{name: "upper-case prefix", label: "Example.com/model", want: []fieldErr{{field.ErrorTypeInvalid, path}}},
		{name: "64-character name", label: strings.Repeat("m", 64), want: []fieldErr{{field.ErrorTypeInvalid, path}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, ValidateGPUModelArgs(root, &config.GPUModelArgs{ModelLabel: tt.label}), tt.want)
		})
	}
}

func TestValidateInterconnectArgs(t *testing.T) {
	ib := config.InterconnectType{Name: "infiniband", NodeLabels: []config.NodeLabel{{Key: "interconnect.gpu-scheduler.io/infiniband", Value: "true"}}}
	nvlink := config.InterconnectType{Name: "nvlink", NodeLabels: []config.NodeLabel{
		{Key: "interconnect.gpu-scheduler.io/nvlink", Value: "true"}, {Key: "nvidia.com/gpu.clique"}}}
	named := func(n int) []config.InterconnectType {
		out := make([]config.InterconnectType, n)
		for i := range out {
			out[i] = config.InterconnectType{Name: fmt.Sprintf("ic%d", i), NodeLabels: ib.NodeLabels}
		}
		return out
	}
	labels := func(ls ...config.NodeLabel) []config.InterconnectType {
		return []config.InterconnectType{{Name: "infiniband", NodeLabels: ls}}
	}
	const p = "pluginConfig.X.args.interconnects"
	tests := []struct {
		name string
		ics  []config.InterconnectType
		want []fieldErr
	}{
		{name: "defaults", ics: []config.InterconnectType{ib, {Name: "roce", NodeLabels: []config.NodeLabel{{Key: "interconnect.gpu-scheduler.io/roce", Value: "true"}}}, nvlink}},
		{name: "none", ics: nil},
		{name: "value-less label", ics: labels(config.NodeLabel{Key: "nvidia.com/gpu.clique"})},
		{name: "64 interconnects", ics: named(64)},
		{name: "65 interconnects", ics: named(65), want: []fieldErr{{field.ErrorTypeTooMany, p}}},
		{name: "empty name", ics: []config.InterconnectType{{NodeLabels: ib.NodeLabels}}, want: []fieldErr{{field.ErrorTypeRequired, p + "[0].name"}}},
		{name: "upper-case name", ics: []config.InterconnectType{ib, {Name: "NVLink", NodeLabels: ib.NodeLabels}}, want: []fieldErr{{field.ErrorTypeInvalid, p + "[1].name"}}},
		{name: "underscore in name", ics: []config.InterconnectType{{Name: "infini_band", NodeLabels: ib.NodeLabels}}, want: []fieldErr{{field.ErrorTypeInvalid, p + "[0].name"}}},
		{name: "duplicate name", ics: []config.InterconnectType{ib, nvlink, ib}, want: []fieldErr{{field.ErrorTypeDuplicate, p + "[2].name"}}},
		{name: "no node labels", ics: []config.InterconnectType{ib, {Name: "roce"}}, want: []fieldErr{{field.ErrorTypeRequired, p + "[1].nodeLabels"}}},
		{name: "empty key", ics: labels(config.NodeLabel{Value: "true"}), want: []fieldErr{{field.ErrorTypeRequired, p + "[0].nodeLabels[0].key"}}},
		{name: "bad key", ics: labels(ib.NodeLabels[0], config.NodeLabel{Key: "bad key"}), want: []fieldErr{{field.ErrorTypeInvalid, p + "[0].nodeLabels[1].key"}}},
		{name: "bad value", ics: labels(config.NodeLabel{Key: "example.com/fabric", Value: "not ok"}), want: []fieldErr{{field.ErrorTypeInvalid, p + "[0].nodeLabels[0].value"}}},
		{name: "several errors at once", ics: []config.InterconnectType{
			{Name: "", NodeLabels: nil},
			{Name: "roce", NodeLabels: []config.NodeLabel{{Key: "a/b/c", Value: "-x"}}},
		}, want: []fieldErr{
			{field.ErrorTypeRequired, p + "[0].name"},
			{field.ErrorTypeRequired, p + "[0].nodeLabels"},
			{field.ErrorTypeInvalid, p + "[1].nodeLabels[0].key"},
			{field.ErrorTypeInvalid, p + "[1].nodeLabels[0].value"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, ValidateInterconnectArgs(root, &config.InterconnectArgs{Interconnects: tt.ics}), tt.want)
		})
	}
}

func TestValidateTopologyLevels(t *testing.T) {
	leaf := config.TopologyLevel{Name: "ib-leaf", NodeLabel: "network.gpu-scheduler.io/ib-leaf"}
	fabric := config.TopologyLevel{Name: "ib-fabric", NodeLabel: "network.gpu-scheduler.io/ib-fabric"}
	const p = "pluginConfig.X.args.topologyLevels"
	tests := []struct {
		name   string
		levels []config.TopologyLevel
		want   []fieldErr
	}{
		{name: "two levels", levels: []config.TopologyLevel{leaf, fabric}},
		{name: "none", levels: nil},
		{name: "empty name", levels: []config.TopologyLevel{{NodeLabel: "a/b"}}, want: []fieldErr{{field.ErrorTypeRequired, p + "[0].name"}}},
		{name: "upper-case name", levels: []config.TopologyLevel{{Name: "Leaf", NodeLabel: "a/b"}}, want: []fieldErr{{field.ErrorTypeInvalid, p + "[0].name"}}},
		{name: "duplicate name", levels: []config.TopologyLevel{leaf, {Name: "ib-leaf", NodeLabel: "a/b"}}, want: []fieldErr{{field.ErrorTypeDuplicate, p + "[1].name"}}},
		{name: "missing label", levels: []config.TopologyLevel{{Name: "rack"}}, want: []fieldErr{{field.ErrorTypeRequired, p + "[0].nodeLabel"}}},
		{name: "two levels on one label", levels: []config.TopologyLevel{leaf, {Name: "rack", NodeLabel: leaf.NodeLabel}}, want: []fieldErr{{field.ErrorTypeDuplicate, p + "[1].nodeLabel"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, ValidateInterconnectArgs(root, &config.InterconnectArgs{TopologyLevels: tt.levels}), tt.want)
		})
	}
}

func TestValidateAntiStrandingArgs(t *testing.T) {
	const (
		cpu = "pluginConfig.X.args.cpuPerGPU"
		mem = "pluginConfig.X.args.memoryPerGPU"
	)
	tests := []struct {
		name        string
		cpu, memory string
		want        []fieldErr
	}{
		{name: "defaults", cpu: "2", memory: "8Gi"},
		{name: "zero", cpu: "0", memory: "0"},
		{name: "fractional CPU", cpu: "250m", memory: "512Mi"},
		{name: "negative CPU", cpu: "-1", memory: "8Gi", want: []fieldErr{{field.ErrorTypeInvalid, cpu}}},
		{name: "negative millicores", cpu: "-1m", memory: "8Gi", want: []fieldErr{{field.ErrorTypeInvalid, cpu}}},
		{name: "negative memory", cpu: "2", memory: "-1Gi", want: []fieldErr{{field.ErrorTypeInvalid, mem}}},
		{name: "CPU at the bound", cpu: "1024", memory: "8Gi"},
		{name: "CPU above the bound", cpu: "1025", memory: "8Gi", want: []fieldErr{{field.ErrorTypeInvalid, cpu}}},
		{name: "memory above the bound", cpu: "2", memory: "65Ti", want: []fieldErr{{field.ErrorTypeInvalid, mem}}},
		{name: "both negative", cpu: "-2", memory: "-8Gi", want: []fieldErr{{field.ErrorTypeInvalid, cpu}, {field.ErrorTypeInvalid, mem}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := &config.AntiStrandingArgs{CPUPerGPU: resource.MustParse(tt.cpu), MemoryPerGPU: resource.MustParse(tt.memory)}
			check(t, ValidateAntiStrandingArgs(root, args), tt.want)
		})
	}
}

func TestValidateGPUFragmentationArgs(t *testing.T) {
	const (
		p        = "pluginConfig.X.args."
		workload = p + "workload[0]."
	)
	valid := func() *config.GPUFragmentationArgs {
		return &config.GPUFragmentationArgs{WindowSize: 2000, ModelLabel: "nvidia.com/gpu.product", StrandedPercent: 50, ScarcityPercent: 100}
	}
	shape := func(change func(*config.WorkloadShape)) func(*config.GPUFragmentationArgs) {
		return func(a *config.GPUFragmentationArgs) {
			s := config.WorkloadShape{CPU: resource.MustParse("8"), Memory: resource.MustParse("32Gi"), GPUs: 1, Models: []string{"A100"}, Weight: 1}
			change(&s)
			a.Workload = []config.WorkloadShape{s}
		}
	}
	tests := []struct {
		name   string
		change func(*config.GPUFragmentationArgs)
		want   []fieldErr
	}{
		{name: "defaults", change: func(*config.GPUFragmentationArgs) {}},
		{name: "window of one Pod", change: func(a *config.GPUFragmentationArgs) { a.WindowSize = 1 }},
		{name: "window at the bound", change: func(a *config.GPUFragmentationArgs) { a.WindowSize = MaxWindowSize }},
		{name: "window of zero", change: func(a *config.GPUFragmentationArgs) { a.WindowSize = 0 }, want: []fieldErr{{field.ErrorTypeInvalid, p + "windowSize"}}},
		{name: "negative window", change: func(a *config.GPUFragmentationArgs) { a.WindowSize = -1 }, want: []fieldErr{{field.ErrorTypeInvalid, p + "windowSize"}}},
		{name: "window above the bound", change: func(a *config.GPUFragmentationArgs) { a.WindowSize = MaxWindowSize + 1 }, want: []fieldErr{{field.ErrorTypeInvalid, p + "windowSize"}}},
		{name: "empty model label", change: func(a *config.GPUFragmentationArgs) { a.ModelLabel = "" }, want: []fieldErr{{field.ErrorTypeRequired, p + "modelLabel"}}},
		{name: "bad model label", change: func(a *config.GPUFragmentationArgs) { a.ModelLabel = "gpu model" }, want: []fieldErr{{field.ErrorTypeInvalid, p + "modelLabel"}}},
		{name: "FGD as published", change: func(a *config.GPUFragmentationArgs) { a.StrandedPercent, a.ScarcityPercent = 0, 0 }},
		{name: "negative strandedPercent", change: func(a *config.GPUFragmentationArgs) { a.StrandedPercent = -1 }, want: []fieldErr{{field.ErrorTypeInvalid, p + "strandedPercent"}}},
		{name: "strandedPercent above 100", change: func(a *config.GPUFragmentationArgs) { a.StrandedPercent = 101 }, want: []fieldErr{{field.ErrorTypeInvalid, p + "strandedPercent"}}},
		{name: "negative scarcityPercent", change: func(a *config.GPUFragmentationArgs) { a.ScarcityPercent = -1 }, want: []fieldErr{{field.ErrorTypeInvalid, p + "scarcityPercent"}}},
		{name: "scarcityPercent above 100", change: func(a *config.GPUFragmentationArgs) { a.ScarcityPercent = 101 }, want: []fieldErr{{field.ErrorTypeInvalid, p + "scarcityPercent"}}},
		{name: "whole-GPU shape", change: shape(func(*config.WorkloadShape) {})},
		{name: "CPU-only shape", change: shape(func(s *config.WorkloadShape) { s.GPUs, s.Models = 0, nil })},
		{name: "shared-GPU shape", change: shape(func(s *config.WorkloadShape) { s.GPUs, s.GPUFraction = 0, "0.25" })},
		{name: "shape of 64 GPUs", change: shape(func(s *config.WorkloadShape) { s.GPUs = 64 })},
		{name: "negative CPU", change: shape(func(s *config.WorkloadShape) { s.CPU = resource.MustParse("-1") }), want: []fieldErr{{field.ErrorTypeInvalid, workload + "cpu"}}},
		{name: "CPU above the bound", change: shape(func(s *config.WorkloadShape) { s.CPU = resource.MustParse("100001") }), want: []fieldErr{{field.ErrorTypeInvalid, workload + "cpu"}}},
		{name: "negative memory", change: shape(func(s *config.WorkloadShape) { s.Memory = resource.MustParse("-1Gi") }), want: []fieldErr{{field.ErrorTypeInvalid, workload + "memory"}}},
		{name: "memory above the bound", change: shape(func(s *config.WorkloadShape) { s.Memory = resource.MustParse("2Pi") }), want: []fieldErr{{field.ErrorTypeInvalid, workload + "memory"}}},
		{name: "negative GPUs", change: shape(func(s *config.WorkloadShape) { s.GPUs = -1 }), want: []fieldErr{{field.ErrorTypeInvalid, workload + "gpus"}}},
		{name: "65 GPUs", change: shape(func(s *config.WorkloadShape) { s.GPUs = 65 }), want: []fieldErr{{field.ErrorTypeInvalid, workload + "gpus"}}},
		{name: "GPUs and a fraction", change: shape(func(s *config.WorkloadShape) { s.GPUFraction = "0.5" }), want: []fieldErr{{field.ErrorTypeInvalid, workload + "gpuFraction"}}},
		{name: "fraction of a whole GPU", change: shape(func(s *config.WorkloadShape) { s.GPUs, s.GPUFraction = 0, "1.0" }), want: []fieldErr{{field.ErrorTypeInvalid, workload + "gpuFraction"}}},
		{name: "fraction of four decimals", change: shape(func(s *config.WorkloadShape) { s.GPUs, s.GPUFraction = 0, "0.1234" }), want: []fieldErr{{field.ErrorTypeInvalid, workload + "gpuFraction"}}},
		{name: "weight zero", change: shape(func(s *config.WorkloadShape) { s.Weight = 0 }), want: []fieldErr{{field.ErrorTypeInvalid, workload + "weight"}}},
		{name: "bad model", change: shape(func(s *config.WorkloadShape) { s.Models = []string{"A100", "not a label value"} }), want: []fieldErr{{field.ErrorTypeInvalid, workload + "models[1]"}}},
		{name: "several errors at once", change: func(a *config.GPUFragmentationArgs) {
			a.WindowSize, a.ModelLabel, a.StrandedPercent, a.ScarcityPercent = 0, "", 101, -1
			shape(func(s *config.WorkloadShape) { s.CPU, s.GPUs, s.Weight = resource.MustParse("-1"), -1, 0 })(a)
		}, want: []fieldErr{
			{field.ErrorTypeInvalid, p + "windowSize"},
			{field.ErrorTypeRequired, p + "modelLabel"},
			{field.ErrorTypeInvalid, p + "strandedPercent"},
			{field.ErrorTypeInvalid, p + "scarcityPercent"},
			{field.ErrorTypeInvalid, workload + "cpu"},
			{field.ErrorTypeInvalid, workload + "gpus"},
			{field.ErrorTypeInvalid, workload + "weight"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := valid()
			tt.change(args)
			check(t, ValidateGPUFragmentationArgs(root, args), tt.want)
		})
	}
}
