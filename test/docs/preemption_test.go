package docs_test

import (
	"context"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/runtime"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"sigs.k8s.io/scheduler-plugins/apis/scheduling/v1alpha1"

	gsconfig "github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config"
	configv1 "github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config/v1"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/antistranding"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/gpufit"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/gpumodel"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/interconnect"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/plugintest"
)

type gangSizes map[string]int

func (s gangSizes) MinMember(_, name string) (int, bool) { n, ok := s[name]; return n, ok }

// rejections makes each plugin reason happen: plugin and Reason constant name, to the status the
// plugin returns.
func rejections(t *testing.T) map[string]func() *fwk.Status {
	ctx := context.Background()
	build := func(pl fwk.Plugin, err error) fwk.Plugin {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return pl
	}
	args := func(versioned, internal runtime.Object) runtime.Object {
		return plugintest.Args(t, versioned, internal)
	}
	fit := build(gpufit.New(ctx, nil, nil))
	// Node n's one GPU is a DRA device, allocated.
	draHandle := plugintest.DRAHandle(t, plugintest.DRAManager{Classes: plugintest.GPUClasses(gpu.NVIDIAGPUClass()),
		Slices: []*resourceapi.ResourceSlice{gpu.NVIDIAGPUSlice("n", "NVIDIA-B200", 1)}, Allocated: plugintest.Allocated("n", 0)})
	draFit := build(gpufit.New(ctx, nil, draHandle))
	model := build(gpumodel.New(ctx, args(&configv1.GPUModelArgs{}, &gsconfig.GPUModelArgs{}), nil))
	ic := build(interconnect.New(ctx, args(&configv1.InterconnectArgs{}, &gsconfig.InterconnectArgs{}), nil))
	gangs := build(interconnect.NewWithGangSizer(gangSizes{"train": 4})(ctx, args(&configv1.InterconnectArgs{}, &gsconfig.InterconnectArgs{}), nil))
	as := build(antistranding.New(ctx, args(&configv1.AntiStrandingArgs{}, &gsconfig.AntiStrandingArgs{}), nil))

	gpuPod := func(gpus int) *v1.Pod { return plugintest.GPUPod("p", "1", "1Gi", gpus).Obj() }
	sharePod := func(fraction, node string) *v1.Pod {
		w := plugintest.GPUPod("s-"+node, "1", "1Gi", 0).Annotation(gpu.FractionAnnotation, fraction)
		if node != "" {
			w = w.Node(node).Annotation(gpu.GPUIndexAnnotation, "0")
		}
		return w.Obj()
	}
	node := func(gpus int, labels ...string) *v1.Node {
		return plugintest.GPUNode("n", "96", "768Gi", gpus, labels...)
	}
	filter := func(pl fwk.Plugin, pod *v1.Pod, n *v1.Node, pods ...*v1.Pod) func() *fwk.Status {
		return func() *fwk.Status { return plugintest.Filter(t, pl, pod, plugintest.NodeInfo(n, pods...)) }
	}
	fabric := "network.gpu-scheduler.io/ib-fabric"
	member := plugintest.GPUPod("train-0", "1", "1Gi", 8).Label(v1alpha1.PodGroupLabel, "train").
		Annotation(gpu.TopologyRequiredAnnotation, "ib-fabric").Obj()
	return map[string]func() *fwk.Status{
		"GPUFit.ReasonNoGPUs":                 filter(fit, gpuPod(1), node(0)),
		"GPUFit.ReasonTooFewGPUs":             filter(fit, gpuPod(8), node(4)),
		"GPUFit.ReasonInsufficientGPUs":       filter(fit, gpuPod(1), node(1), plugintest.GPUPod("u", "1", "1Gi", 1).Node("n").Obj()),
		"GPUFit.ReasonInsufficientGPUShare":   filter(fit, sharePod("0.5", ""), node(1), sharePod("0.8", "n")),
		"GPUFit.ReasonNoGPUForShare":          filter(draFit, sharePod("0.5", ""), node(0)),
		"GPUFit.ReasonInsufficientGPUDevices": filter(draFit, gpuPod(1), node(0)),
		"GPUModel.ReasonNoModelLabel": filter(model,
			plugintest.GPUPod("p", "1", "1Gi", 1).Annotation(gpu.ModelAnnotation, "Tesla-T4").Obj(), node(1)),
		"GPUModel.ReasonModelNotAccepted": filter(model,
			plugintest.GPUPod("p", "1", "1Gi", 1).Annotation(gpu.ModelAnnotation, "Tesla-T4").Obj(), node(1, gpu.DefaultModelLabel, "NVIDIA-A100-SXM4-80GB")),
		"Interconnect.ReasonMissingInterconnect": filter(ic,
			plugintest.GPUPod("p", "1", "1Gi", 1).Annotation(gpu.InterconnectAnnotation, "infiniband").Obj(), node(1)),
		"Interconnect.ReasonNoGangDomain": func() *fwk.Status {
			var nodes []fwk.NodeInfo
			for _, name := range []string{"a", "b"} {
				nodes = append(nodes, plugintest.NodeInfo(plugintest.GPUNode(name, "96", "768Gi", 8, fabric, "fab-"+name)))
			}
			_, st := gangs.(fwk.PreFilterPlugin).PreFilter(ctx, framework.NewCycleState(), member, nodes)
			return st
		},
		// 96 CPUs and 8 free GPUs hold 8 x 12 CPUs back; 400Gi and 8 GPUs hold 8 x 48Gi back.
		"AntiStranding.ReasonCPUHeldForGPUs": filter(as, plugintest.GPUPod("c", "8", "1Gi", 0).Obj(), node(8)),
		"AntiStranding.ReasonMemoryHeldForGPUs": filter(as, plugintest.GPUPod("c", "1", "64Gi", 0).Obj(),
			plugintest.GPUNode("n", "200", "400Gi", 8)),
	}
}

// TestPreemptionColumn: for every reason of README.md's reasons table, the plugin returns the code its
// "can preemption help?" column promises: UnschedulableAndUnresolvable for "no" (the event's
// "preemption:" part then promises nothing), Unschedulable for "yes".
func TestPreemptionColumn(t *testing.T) {
	ds := docs(t)
	code := reasons(t, ds)
	cases := rejections(t)
	readme := ds[0]
	rows := 0
	for _, tb := range readme.tables() {
		col := tb.col("can preemption help?")
		if len(tb.header) == 0 || tb.header[0] != "reason" || col < 0 {
			continue
		}
		for i, row := range tb.rows {
			rows++
			plugin, text := pluginOf(readme, tb, row), strings.Join(quoted(row[0]), "")
			var r *reason
			for j := range code[plugin] {
				if code[plugin][j].quote.MatchString(text) {
					r = &code[plugin][j]
				}
			}
			if r == nil {
				continue // TestFilterReasons reports it
			}
			reject, ok := cases[plugin+"."+r.name]
			if !ok {
				t.Errorf("%s: no case here makes %s return %s", readme.at(tb.line[i]), plugin, r.name)
				continue
			}
			want := fwk.Unschedulable
			if strings.HasPrefix(strings.ToLower(row[col]), "no") {
				want = fwk.UnschedulableAndUnresolvable
			}
			got := reject()
			if got.Code() != want || !r.quote.MatchString(firstReason(got)) {
				t.Errorf("%s: %s returns %v %q, want %v with %s %q (the row says %q)",
					readme.at(tb.line[i]), plugin, got.Code(), got.Message(), want, r.name, r.text, row[col])
			}
		}
	}
	if rows == 0 {
		t.Fatal("README.md has no reasons table with a \"can preemption help?\" column")
	}
}

func firstReason(s *fwk.Status) string {
	if rs := s.Reasons(); len(rs) > 0 {
		return rs[0]
	}
	return ""
}
