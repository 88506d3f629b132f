package plugins_test

import (
	"context"
	"encoding/json"
	"testing"

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"sigs.k8s.io/scheduler-plugins/apis/scheduling/v1alpha1"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/antistranding"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/coscheduling"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/gpubinpacking"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/gpufit"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/gpufragmentation"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/gpumodel"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/interconnect"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/plugintest"
)

// signature is what the framework makes of one plugin's fragments: a JSON object by key.
func signature(t *testing.T, pl fwk.SignPlugin, pod *v1.Pod) (string, *fwk.Status) {
	t.Helper()
	fragments, status := pl.SignPod(context.Background(), pod)
	if !status.IsSuccess() {
		return "", status
	}
	sig := map[string]any{}
	for _, f := range fragments {
		sig[f.Key] = f.Value
	}
	out, err := json.Marshal(sig)
	if err != nil {
		t.Fatalf("%s: fragments do not marshal: %v", pl.Name(), err)
	}
	return string(out), nil
}

func signPod() *st.PodWrapper {
	return plugintest.GPUPod("a", "8", "32Gi", 1).
		Annotation(gpu.ModelAnnotation, "NVIDIA-H100-80GB-HBM3").
		Annotation(gpu.InterconnectAnnotation, "infiniband")
}

// Each plugin's signature changes with every input its verdict and score depend on, and with no
// other; it declines the Pods whose placement depends on state a signature cannot hold. Without
// SignPod on every Filter and Score plugin, kube-scheduler turns batching off for the whole profile.
func TestSignPod(t *testing.T) {
	variants := map[string]*v1.Pod{
		"another name":          signPod().Name("b").UID("b").Label("app", "b").Obj(),
		"more GPUs":             plugintest.GPUPod("a", "8", "32Gi", 2).Annotation(gpu.ModelAnnotation, "NVIDIA-H100-80GB-HBM3").Annotation(gpu.InterconnectAnnotation, "infiniband").Obj(),
		"a GPU in a sidecar":    signPod().SidecarReq(map[v1.ResourceName]string{gpu.ResourceName: "1"}).Obj(),
		"more CPU":              plugintest.GPUPod("a", "9", "32Gi", 1).Annotation(gpu.ModelAnnotation, "NVIDIA-H100-80GB-HBM3").Annotation(gpu.InterconnectAnnotation, "infiniband").Obj(),
		"more memory":           plugintest.GPUPod("a", "8", "33Gi", 1).Annotation(gpu.ModelAnnotation, "NVIDIA-H100-80GB-HBM3").Annotation(gpu.InterconnectAnnotation, "infiniband").Obj(),
		"another model":         signPod().Annotation(gpu.ModelAnnotation, "NVIDIA-A100-SXM4-80GB").Obj(),
		"another interconnect":  signPod().Annotation(gpu.InterconnectAnnotation, "roce").Obj(),
		"a preferred one":       signPod().Annotation(gpu.PreferredInterconnectAnnotation, "nvlink").Obj(),
		"a share":               plugintest.GPUPod("a", "8", "32Gi", 0).Annotation(gpu.FractionAnnotation, "0.5").Obj(),
		"a malformed share":     plugintest.GPUPod("a", "8", "32Gi", 0).Annotation(gpu.FractionAnnotation, "half").Obj(),
		"a gang member":         signPod().Label(v1alpha1.PodGroupLabel, "train").Obj(),
		"an empty gang label":   signPod().Label(v1alpha1.PodGroupLabel, "").Obj(),
		"an empty model string": signPod().Annotation(gpu.ModelAnnotation, "").Obj(),
	}
	// decides: the variants whose signature must differ from the base Pod's; declines: the variants
	// not signed. Every other variant signs as the base Pod does.
	for _, tc := range []struct {
		plugin   string
		decides  []string
		declines []string
	}{
		{gpufit.Name, []string{"more GPUs", "a GPU in a sidecar"}, []string{"a share", "a malformed share"}},
		{gpumodel.Name, []string{"another model", "a share", "a malformed share", "an empty model string"}, nil},
		{interconnect.Name, []string{"another interconnect", "a preferred one", "a share", "a malformed share"}, []string{"a gang member", "an empty gang label"}},
		{gpubinpacking.Name, []string{"more GPUs", "a GPU in a sidecar", "a share"}, []string{"a malformed share"}},
		{antistranding.Name, []string{"more GPUs", "a GPU in a sidecar", "more CPU", "more memory", "a share"}, []string{"a malformed share"}},
		{gpufragmentation.Name, []string{"more GPUs", "a GPU in a sidecar", "more CPU", "more memory", "another model", "an empty model string"}, []string{"a share", "a malformed share"}},
	} {
		t.Run(tc.plugin, func(t *testing.T) {
			pl, ok := newPlugins(t, nil)[tc.plugin].(fwk.SignPlugin)
			if !ok {
				t.Fatalf("%s does not sign Pods", tc.plugin)
			}
			base, status := signature(t, pl, signPod().Obj())
			if !status.IsSuccess() {
				t.Fatalf("base Pod not signed: %v", status)
			}
			for name, pod := range variants {
				sig, status := signature(t, pl, pod)
				switch {
				case contains(tc.declines, name):
					if status.Code() != fwk.Unschedulable || status.Message() == "" {
						t.Errorf("%s: status %v, want Unschedulable with a reason", name, status)
					}
				case !status.IsSuccess():
					t.Errorf("%s: not signed: %v", name, status)
				case contains(tc.decides, name) && sig == base:
					t.Errorf("%s signs as the base Pod: %s", name, sig)
				case !contains(tc.decides, name) && sig != base:
					t.Errorf("%s signs %s, want the base Pod's %s", name, sig, base)
				}
			}
		})
	}
}

// Coscheduling signs every Pod outside a gang with nothing, and no gang member.
func TestCoschedulingSignPod(t *testing.T) {
	pl := &coscheduling.Coscheduling{}
	if f, status := pl.SignPod(context.Background(), signPod().Label(v1alpha1.PodGroupLabel, "").Obj()); !status.IsSuccess() || len(f) != 0 {
		t.Errorf("Pod outside a gang: %v, %v; want signed with nothing", f, status)
	}
	if _, status := pl.SignPod(context.Background(), signPod().Label(v1alpha1.PodGroupLabel, "train").Obj()); status.Code() != fwk.Unschedulable {
		t.Errorf("gang member: %v, want Unschedulable", status)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
