package v1_test

import (
	"testing"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	kubeschedulerscheme "k8s.io/kubernetes/pkg/scheduler/apis/config/scheme"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config"
	_ "github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config/scheme"
	v1 "github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config/v1"
)

var scheme = kubeschedulerscheme.Scheme

func strPtr(s string) *string { return &s }

func qty(s string) *resource.Quantity {
	q := resource.MustParse(s)
	return &q
}

// defaulted runs the scheme's defaulting, as kube-scheduler does on a profile's pluginConfig, and
// checks that it matches calling the SetDefaults function directly.
func defaulted[T runtime.Object](t *testing.T, obj T, setDefaults func(T)) T {
	t.Helper()
	direct := obj.DeepCopyObject().(T)
	setDefaults(direct)
	scheme.Default(obj)
	if !apiequality.Semantic.DeepEqual(obj, direct) {
		t.Errorf("scheme defaulting gave %+v, SetDefaults gave %+v", obj, direct)
	}
	return obj
}

func TestGPUModelArgsDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   *v1.GPUModelArgs
		want string
	}{
		{name: "unset", in: &v1.GPUModelArgs{}, want: "nvidia.com/gpu.product"},
		{name: "set", in: &v1.GPUModelArgs{ModelLabel: strPtr("example.com/gpu-model")}, want: "example.com/gpu-model"},
		// An empty label is kept for validation to reject, not silently replaced.
		{name: "set empty", in: &v1.GPUModelArgs{ModelLabel: strPtr("")}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := defaulted(t, tt.in, v1.SetDefaults_GPUModelArgs)
			if got.ModelLabel == nil || *got.ModelLabel != tt.want {
				t.Errorf("ModelLabel = %v, want %q", got.ModelLabel, tt.want)
			}
		})
	}
}

func TestInterconnectArgsDefaults(t *testing.T) {
	defaults := []v1.InterconnectType{
		{Name: "infiniband", NodeLabels: []v1.NodeLabel{{Key: "interconnect.gpu-scheduler.io/infiniband", Value: "true"}}},
		{Name: "roce", NodeLabels: []v1.NodeLabel{{Key: "interconnect.gpu-scheduler.io/roce", Value: "true"}}},
		{Name: "nvlink", NodeLabels: []v1.NodeLabel{
			{Key: "interconnect.gpu-scheduler.io/nvlink", Value: "true"},
			{Key: "nvidia.com/gpu.clique"},
		}},
	}
	custom := []v1.InterconnectType{{Name: "slingshot", NodeLabels: []v1.NodeLabel{{Key: "example.com/fabric", Value: "slingshot"}}}}
	tests := []struct {
		name string
		in   *v1.InterconnectArgs
		want []v1.InterconnectType
	}{
		{name: "unset", in: &v1.InterconnectArgs{}, want: defaults},
		{name: "set", in: &v1.InterconnectArgs{Interconnects: custom}, want: custom},
		// An explicitly empty list means no premium interconnects, not the defaults.
		{name: "set empty", in: &v1.InterconnectArgs{Interconnects: []v1.InterconnectType{}}, want: []v1.InterconnectType{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := defaulted(t, tt.in, v1.SetDefaults_InterconnectArgs)
			if !apiequality.Semantic.DeepEqual(got.Interconnects, tt.want) || got.Interconnects == nil {
				t.Errorf("Interconnects = %+v, want %+v", got.Interconnects, tt.want)
			}
		})
	}
	// Each call returns a fresh list, so one profile's args cannot alias another's.
	a, b := v1.DefaultInterconnects(), v1.DefaultInterconnects()
	a[0].Name, a[2].NodeLabels[1].Key = "changed", "changed"
	if b[0].Name != "infiniband" || b[2].NodeLabels[1].Key != "nvidia.com/gpu.clique" {
		t.Errorf("DefaultInterconnects shares its slices between calls")
	}
}

func TestAntiStrandingArgsDefaults(t *testing.T) {
	tests := []struct {
		name                string
		in                  *v1.AntiStrandingArgs
		wantCPU, wantMemory string
	}{
		{name: "unset", in: &v1.AntiStrandingArgs{}, wantCPU: "12", wantMemory: "48Gi"},
		{name: "set", in: &v1.AntiStrandingArgs{CPUPerGPU: qty("500m"), MemoryPerGPU: qty("4Gi")}, wantCPU: "500m", wantMemory: "4Gi"},
		{name: "set to zero", in: &v1.AntiStrandingArgs{CPUPerGPU: qty("0"), MemoryPerGPU: qty("0")}, wantCPU: "0", wantMemory: "0"},
		{name: "only CPU set", in: &v1.AntiStrandingArgs{CPUPerGPU: qty("4")}, wantCPU: "4", wantMemory: "48Gi"},
		{name: "only memory set", in: &v1.AntiStrandingArgs{MemoryPerGPU: qty("16Gi")}, wantCPU: "12", wantMemory: "16Gi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := defaulted(t, tt.in, v1.SetDefaults_AntiStrandingArgs)
			if got.CPUPerGPU == nil || got.CPUPerGPU.Cmp(resource.MustParse(tt.wantCPU)) != 0 {
				t.Errorf("CPUPerGPU = %v, want %s", got.CPUPerGPU, tt.wantCPU)
			}
			if got.MemoryPerGPU == nil || got.MemoryPerGPU.Cmp(resource.MustParse(tt.wantMemory)) != 0 {
				t.Errorf("MemoryPerGPU = %v, want %s", got.MemoryPerGPU, tt.wantMemory)
			}
		})
	}
	// Defaulting copies the package defaults, so changing one object's value leaves them alone.
	args := &v1.AntiStrandingArgs{}
	v1.SetDefaults_AntiStrandingArgs(args)
	args.CPUPerGPU.Add(resource.MustParse("1"))
	args.MemoryPerGPU.Add(resource.MustParse("1Gi"))
	if v1.DefaultCPUPerGPU.Cmp(resource.MustParse("12")) != 0 || v1.DefaultMemoryPerGPU.Cmp(resource.MustParse("48Gi")) != 0 {
		t.Errorf("defaults changed through defaulted args: %v, %v", v1.DefaultCPUPerGPU, v1.DefaultMemoryPerGPU)
	}
}

func int32Ptr(i int32) *int32 { return &i }

func TestGPUFragmentationArgsDefaults(t *testing.T) {
	shapes := []v1.WorkloadShape{{CPU: resource.MustParse("8"), Memory: resource.MustParse("32Gi"), GPUs: 1, Weight: 3}}
	type want struct {
		windowSize, strandedPercent, scarcityPercent int32
		modelLabel                                   string
		workload                                     []v1.WorkloadShape
	}
	defaults := want{windowSize: 2000, strandedPercent: 50, scarcityPercent: 100, modelLabel: "nvidia.com/gpu.product"}
	tests := []struct {
		name string
		in   *v1.GPUFragmentationArgs
		want want
	}{
		{name: "unset", in: &v1.GPUFragmentationArgs{}, want: defaults},
		{name: "set", in: &v1.GPUFragmentationArgs{WindowSize: int32Ptr(500), ModelLabel: strPtr("example.com/gpu-model"),
			StrandedPercent: int32Ptr(25), ScarcityPercent: int32Ptr(75), Workload: shapes},
			want: want{windowSize: 500, strandedPercent: 25, scarcityPercent: 75, modelLabel: "example.com/gpu-model", workload: shapes}},
		// 0 is FGD as published for both percentages, and an empty label or window is validation's to
		// reject: zero values are kept, not replaced by the defaults.
		{name: "set to zero", in: &v1.GPUFragmentationArgs{WindowSize: int32Ptr(0), ModelLabel: strPtr(""),
			StrandedPercent: int32Ptr(0), ScarcityPercent: int32Ptr(0)}, want: want{}},
		{name: "only the workload set", in: &v1.GPUFragmentationArgs{Workload: shapes},
			want: want{windowSize: 2000, strandedPercent: 50, scarcityPercent: 100, modelLabel: "nvidia.com/gpu.product", workload: shapes}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := defaulted(t, tt.in, v1.SetDefaults_GPUFragmentationArgs)
			if got.WindowSize == nil || *got.WindowSize != tt.want.windowSize {
				t.Errorf("WindowSize = %v, want %d", got.WindowSize, tt.want.windowSize)
			}
			if got.ModelLabel == nil || *got.ModelLabel != tt.want.modelLabel {
				t.Errorf("ModelLabel = %v, want %q", got.ModelLabel, tt.want.modelLabel)
			}
			if got.StrandedPercent == nil || *got.StrandedPercent != tt.want.strandedPercent {
				t.Errorf("StrandedPercent = %v, want %d", got.StrandedPercent, tt.want.strandedPercent)
			}
			if got.ScarcityPercent == nil || *got.ScarcityPercent != tt.want.scarcityPercent {
				t.Errorf("ScarcityPercent = %v, want %d", got.ScarcityPercent, tt.want.scarcityPercent)
			}
			// No default workload: without one, the plugin learns it.
			if !apiequality.Semantic.DeepEqual(got.Workload, tt.want.workload) {
				t.Errorf("Workload = %+v, want %+v", got.Workload, tt.want.workload)
			}
		})
	}
}

// roundTrip converts versioned to internal and back through the scheme, checks the internal object
// against wantInternal and that the versioned object comes back unchanged.
func roundTrip(t *testing.T, versioned, internal, back, wantInternal runtime.Object) {
	t.Helper()
	if err := scheme.Convert(versioned, internal, nil); err != nil {
		t.Fatalf("to internal: %v", err)
	}
	if !apiequality.Semantic.DeepEqual(internal, wantInternal) {
		t.Errorf("internal = %+v, want %+v", internal, wantInternal)
	}
	if err := scheme.Convert(internal, back, nil); err != nil {
		t.Fatalf("back to v1: %v", err)
	}
	if !apiequality.Semantic.DeepEqual(back, versioned) {
		t.Errorf("round trip gave %+v, want %+v", back, versioned)
	}
}

func TestConversionRoundTrip(t *testing.T) {
	t.Run("GPUModelArgs", func(t *testing.T) {
		roundTrip(t, &v1.GPUModelArgs{ModelLabel: strPtr("example.com/gpu-model")}, &config.GPUModelArgs{}, &v1.GPUModelArgs{},
			&config.GPUModelArgs{ModelLabel: "example.com/gpu-model"})
	})
	t.Run("InterconnectArgs", func(t *testing.T) {
		roundTrip(t, &v1.InterconnectArgs{Interconnects: []v1.InterconnectType{
			{Name: "infiniband", NodeLabels: []v1.NodeLabel{{Key: "example.com/ib", Value: "true"}}},
			{Name: "nvlink", NodeLabels: []v1.NodeLabel{{Key: "example.com/nvlink", Value: "yes"}, {Key: "nvidia.com/gpu.clique"}}},
		}}, &config.InterconnectArgs{}, &v1.InterconnectArgs{},
			&config.InterconnectArgs{Interconnects: []config.InterconnectType{
				{Name: "infiniband", NodeLabels: []config.NodeLabel{{Key: "example.com/ib", Value: "true"}}},
				{Name: "nvlink", NodeLabels: []config.NodeLabel{{Key: "example.com/nvlink", Value: "yes"}, {Key: "nvidia.com/gpu.clique"}}},
			}})
	})
	t.Run("AntiStrandingArgs", func(t *testing.T) {
		roundTrip(t, &v1.AntiStrandingArgs{CPUPerGPU: qty("1500m"), MemoryPerGPU: qty("12Gi")}, &config.AntiStrandingArgs{}, &v1.AntiStrandingArgs{},
			&config.AntiStrandingArgs{CPUPerGPU: resource.MustParse("1500m"), MemoryPerGPU: resource.MustParse("12Gi")})
	})
	t.Run("GPUFragmentationArgs", func(t *testing.T) {
		roundTrip(t, &v1.GPUFragmentationArgs{WindowSize: int32Ptr(500), ModelLabel: strPtr("example.com/gpu-model"),
			StrandedPercent: int32Ptr(0), ScarcityPercent: int32Ptr(75), Workload: []v1.WorkloadShape{
				{CPU: resource.MustParse("8"), Memory: resource.MustParse("32Gi"), GPUs: 2, Models: []string{"A100", "H100"}, Weight: 3},
				{CPU: resource.MustParse("4"), Memory: resource.MustParse("16Gi"), GPUFraction: "0.5", Weight: 1},
			}}, &config.GPUFragmentationArgs{}, &v1.GPUFragmentationArgs{},
			&config.GPUFragmentationArgs{WindowSize: 500, ModelLabel: "example.com/gpu-model", StrandedPercent: 0, ScarcityPercent: 75,
				Workload: []config.WorkloadShape{
					{CPU: resource.MustParse("8"), Memory: resource.MustParse("32Gi"), GPUs: 2, Models: []string{"A100", "H100"}, Weight: 3},
					{CPU: resource.MustParse("4"), Memory: resource.MustParse("16Gi"), GPUFraction: "0.5", Weight: 1},
				}})
	})
	t.Run("defaulted args", func(t *testing.T) {
		model, ic, as, frag := &v1.GPUModelArgs{}, &v1.InterconnectArgs{}, &v1.AntiStrandingArgs{}, &v1.GPUFragmentationArgs{}
		for _, obj := range []runtime.Object{model, ic, as, frag} {
			scheme.Default(obj)
		}
		roundTrip(t, model, &config.GPUModelArgs{}, &v1.GPUModelArgs{}, &config.GPUModelArgs{ModelLabel: "nvidia.com/gpu.product"})
		roundTrip(t, ic, &config.InterconnectArgs{}, &v1.InterconnectArgs{}, &config.InterconnectArgs{Interconnects: []config.InterconnectType{
			{Name: "infiniband", NodeLabels: []config.NodeLabel{{Key: "interconnect.gpu-scheduler.io/infiniband", Value: "true"}}},
			{Name: "roce", NodeLabels: []config.NodeLabel{{Key: "interconnect.gpu-scheduler.io/roce", Value: "true"}}},
			{Name: "nvlink", NodeLabels: []config.NodeLabel{{Key: "interconnect.gpu-scheduler.io/nvlink", Value: "true"}, {Key: "nvidia.com/gpu.clique"}}},
		}, TopologyLevels: []config.TopologyLevel{
			{Name: "nvlink-domain", NodeLabel: "nvidia.com/gpu.clique"},
			{Name: "ib-leaf", NodeLabel: "network.gpu-scheduler.io/ib-leaf"},
			{Name: "ib-fabric", NodeLabel: "network.gpu-scheduler.io/ib-fabric"},
			{Name: "rack", NodeLabel: "topology.gpu-scheduler.io/rack"},
			{Name: "zone", NodeLabel: "topology.kubernetes.io/zone"},
		}})
		roundTrip(t, as, &config.AntiStrandingArgs{}, &v1.AntiStrandingArgs{},
			&config.AntiStrandingArgs{CPUPerGPU: resource.MustParse("12"), MemoryPerGPU: resource.MustParse("48Gi")})
		roundTrip(t, frag, &config.GPUFragmentationArgs{}, &v1.GPUFragmentationArgs{},
			&config.GPUFragmentationArgs{WindowSize: 2000, ModelLabel: "nvidia.com/gpu.product", StrandedPercent: 50, ScarcityPercent: 100})
	})
}

// TestConvertUndefaultedQuantities: without defaulting, a missing quantity converts to zero, and
// comes back set to zero.
func TestConvertUndefaultedQuantities(t *testing.T) {
	internal := &config.AntiStrandingArgs{}
	if err := scheme.Convert(&v1.AntiStrandingArgs{CPUPerGPU: qty("3")}, internal, nil); err != nil {
		t.Fatal(err)
	}
	if internal.CPUPerGPU.Cmp(resource.MustParse("3")) != 0 || !internal.MemoryPerGPU.IsZero() {
		t.Errorf("internal = %v, %v; want 3 and 0", &internal.CPUPerGPU, &internal.MemoryPerGPU)
	}
	back := &v1.AntiStrandingArgs{}
	if err := scheme.Convert(internal, back, nil); err != nil {
		t.Fatal(err)
	}
	if back.MemoryPerGPU == nil || !back.MemoryPerGPU.IsZero() {
		t.Errorf("MemoryPerGPU back = %v, want 0", back.MemoryPerGPU)
	}
	// The converted quantities are copies: changing one side leaves the other alone.
	back.CPUPerGPU.Add(resource.MustParse("1"))
	if internal.CPUPerGPU.Cmp(resource.MustParse("3")) != 0 {
		t.Errorf("internal CPUPerGPU changed to %v through the converted object", &internal.CPUPerGPU)
	}
}
