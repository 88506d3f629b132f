package gpumodel

import (
	"context"
	"fmt"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	"k8s.io/utils/ptr"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config"
	configv1 "github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config/v1"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/plugintest"
)

const (
	a100 = "NVIDIA-A100-SXM4-80GB"
	h100 = "NVIDIA-H100-80GB-HBM3"
	t4   = "Tesla-T4"
)

func newPlugin(t *testing.T, versioned *configv1.GPUModelArgs) fwk.Plugin {
	t.Helper()
	pl, err := New(context.Background(), plugintest.Args(t, versioned, &config.GPUModelArgs{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

// modelPod is a 1-GPU Pod accepting the given models; no annotation when models is nil.
func modelPod(models *string) *v1.Pod {
	p := plugintest.GPUPod("p", "1", "1Gi", 1)
	if models != nil {
		p.Annotation(gpu.ModelAnnotation, *models)
	}
	return p.Obj()
}

func modelNode(model string) *v1.Node {
	return plugintest.GPUNode("n", "32", "128Gi", 8, gpu.DefaultModelLabel, model)
}

func TestFilter(t *testing.T) {
	unlabelled := plugintest.GPUNode("n", "32", "128Gi", 8)
	tests := []struct {
		name   string
		models *string
		node   *v1.Node
		want   *fwk.Status
	}{
		{name: "pod without annotation skips", node: unlabelled},
		{name: "pod without annotation skips on any model", node: modelNode(t4)},
		{name: "accepted model", models: strPtr(a100), node: modelNode(a100)},
		{name: "node label in another case", models: strPtr(a100), node: modelNode(strings.ToLower(a100))},
		{name: "annotation in another case", models: strPtr(strings.ToLower(h100)), node: modelNode(h100)},
		{name: "second of a '|' list", models: strPtr(a100 + "|" + h100), node: modelNode(h100)},
		{name: "second of a ',' list", models: strPtr(a100 + "," + h100), node: modelNode(h100)},
		{name: "mixed separators and spaces", models: strPtr(t4 + " , " + a100 + " | " + h100), node: modelNode(h100)},
		{name: "model not accepted", models: strPtr(a100 + "|" + h100), node: modelNode(t4),
			want: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonModelNotAccepted)},
		{name: "prefix of an accepted model is not accepted", models: strPtr(a100), node: modelNode("NVIDIA-A100"),
			want: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonModelNotAccepted)},
		{name: "empty model label value", models: strPtr(a100), node: modelNode(""),
			want: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonModelNotAccepted)},
		{name: "no model label", models: strPtr(a100), node: unlabelled,
			want: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonNoModelLabel)},
		{name: "model under another label only", models: strPtr(a100), node: plugintest.GPUNode("n", "32", "128Gi", 8, "example.com/gpu-model", a100),
			want: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonNoModelLabel)},
	}
	pl := newPlugin(t, &configv1.GPUModelArgs{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := plugintest.Filter(t, pl, modelPod(tt.models), plugintest.NodeInfo(tt.node))
			if !got.Equal(tt.want) {
				t.Errorf("status = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPreFilter(t *testing.T) {
	many := make([]string, 65)
	for i := range many {
		many[i] = fmt.Sprintf("model-%d", i)
	}
	tests := []struct {
		name   string
		models *string
		// wantSkip: PreFilter skips; otherwise wantErr is a fragment of the rejection, or "" for success.
		wantSkip bool
		wantErr  string
	}{
		{name: "no annotation", wantSkip: true},
		{name: "one model", models: strPtr(a100)},
		{name: "empty", models: strPtr(""), wantErr: "empty list"},
		{name: "blank", models: strPtr("  "), wantErr: "empty list"},
		{name: "empty entry", models: strPtr("a||b"), wantErr: "has an empty entry"},
		{name: "trailing separator", models: strPtr(a100 + ","), wantErr: "has an empty entry"},
		{name: "a repeat is harmless", models: strPtr(a100 + "|" + strings.ToLower(a100))},
		{name: "invalid label value", models: strPtr("NVIDIA A100"), wantErr: "is not a valid label value"},
		{name: "invalid character", models: strPtr("nvidia/a100"), wantErr: "is not a valid label value"},
		{name: "too many entries", models: strPtr(strings.Join(many, "|")), wantErr: "65 entries, at most 64 allowed"},
	}
	pl := newPlugin(t, &configv1.GPUModelArgs{}).(*GPUModel)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := framework.NewCycleState()
			res, status := pl.PreFilter(context.Background(), state, modelPod(tt.models), nil)
			if res != nil {
				t.Errorf("PreFilterResult = %v, want nil", res)
			}
			switch {
			case tt.wantSkip:
				if !status.IsSkip() {
					t.Errorf("status = %v, want Skip", status)
				}
			case tt.wantErr == "":
				if !status.IsSuccess() {
					t.Errorf("status = %v, want success", status)
				}
			default:
				if status.Code() != fwk.UnschedulableAndUnresolvable {
					t.Fatalf("status = %v, want UnschedulableAndUnresolvable", status)
				}
				msg := status.Message()
				if !strings.Contains(msg, gpu.ModelAnnotation) || !strings.Contains(msg, tt.wantErr) {
					t.Errorf("message %q, want it to name %s and hold %q", msg, gpu.ModelAnnotation, tt.wantErr)
				}
			}
		})
	}
}

func TestCustomModelLabel(t *testing.T) {
	const label = "example.com/gpu-model"
	pl := newPlugin(t, &configv1.GPUModelArgs{ModelLabel: strPtr(label)})
	pod := modelPod(strPtr(a100))
	tests := []struct {
		name string
		node *v1.Node
		want *fwk.Status
	}{
		{name: "accepted model under the custom label", node: plugintest.GPUNode("n", "32", "128Gi", 8, label, a100)},
		{name: "other model under the custom label", node: plugintest.GPUNode("n", "32", "128Gi", 8, label, t4, gpu.DefaultModelLabel, a100),
			want: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonModelNotAccepted)},
		{name: "accepted model under the default label only", node: modelNode(a100),
			want: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonNoModelLabel)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := plugintest.Filter(t, pl, pod, plugintest.NodeInfo(tt.node)); !got.Equal(tt.want) {
				t.Errorf("status = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		label   string
		wantErr string
	}{
		{name: "default label", label: gpu.DefaultModelLabel},
		{name: "unprefixed label", label: "gpu-model"},
		{name: "empty label", label: "", wantErr: "pluginConfig.GPUModel.args.modelLabel: Required value"},
		{name: "space in label", label: "bad label", wantErr: `pluginConfig.GPUModel.args.modelLabel: Invalid value: "bad label"`},
		{name: "two slashes", label: "a/b/c", wantErr: `pluginConfig.GPUModel.args.modelLabel: Invalid value: "a/b/c"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(context.Background(), &config.GPUModelArgs{ModelLabel: tt.label}, nil)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New: error %v, want one holding %q", err, tt.wantErr)
			}
		})
	}
	if _, err := New(context.Background(), &config.InterconnectArgs{}, nil); err == nil || !strings.Contains(err.Error(), "*config.GPUModelArgs") {
		t.Errorf("New with another plugin's args: error %v, want one naming the args type", err)
	}
}

func TestQueueingHints(t *testing.T) {
	logger, _ := ktesting.NewTestContext(t)
	pl := newPlugin(t, &configv1.GPUModelArgs{}).(*GPUModel)
	accepting := modelPod(strPtr(a100 + "|" + h100))
	tests := []struct {
		name           string
		pod            *v1.Pod
		oldObj, newObj interface{}
		want           fwk.QueueingHint
	}{
		{name: "node with an accepted model added", pod: accepting, newObj: modelNode(h100), want: fwk.Queue},
		{name: "node with an accepted model in another case added", pod: accepting, newObj: modelNode(strings.ToUpper(h100)), want: fwk.Queue},
		{name: "node with another model added", pod: accepting, newObj: modelNode(t4), want: fwk.QueueSkip},
		{name: "node without a model label added", pod: accepting, newObj: plugintest.GPUNode("n", "32", "128Gi", 8), want: fwk.QueueSkip},
		{name: "node labelled with an accepted model", pod: accepting, oldObj: plugintest.GPUNode("n", "32", "128Gi", 8), newObj: modelNode(a100), want: fwk.Queue},
		{name: "node relabelled to an accepted model", pod: accepting, oldObj: modelNode(t4), newObj: modelNode(a100), want: fwk.Queue},
		{name: "node relabelled between accepted models", pod: accepting, oldObj: modelNode(a100), newObj: modelNode(h100), want: fwk.QueueSkip},
		{name: "accepted model unchanged", pod: accepting, oldObj: modelNode(a100), newObj: modelNode(a100), want: fwk.QueueSkip},
		{name: "node relabelled to another unaccepted model", pod: accepting, oldObj: modelNode(t4), newObj: modelNode("Tesla-V100"), want: fwk.QueueSkip},
		{name: "pod without annotation", pod: modelPod(nil), newObj: modelNode(a100), want: fwk.QueueSkip},
		{name: "pod with a malformed annotation", pod: modelPod(strPtr("a||b")), newObj: modelNode("a"), want: fwk.QueueSkip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pl.isSchedulableAfterNodeChange(logger, tt.pod, tt.oldObj, tt.newObj)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("hint = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEventsToRegister(t *testing.T) {
	pl := newPlugin(t, &configv1.GPUModelArgs{}).(*GPUModel)
	events, err := pl.EventsToRegister(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 {
		t.Fatalf("got %d events, want 1", len(events))
	}
	want := fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeLabel}
	if events[0].Event != want || events[0].QueueingHintFn == nil {
		t.Errorf("event %v (hint set %v), want %v with a hint", events[0].Event, events[0].QueueingHintFn != nil, want)
	}
}

func strPtr(s string) *string { return &s }

// A node whose GPUs are DRA devices has no GPU Feature Discovery label: its model is the productName
// its ResourceSlices publish, when a DeviceClass maps nvidia.com/gpu.
func TestDRAProductName(t *testing.T) {
	node := plugintest.GPUNode("dra-0", "96", "768Gi", 0)
	slices := []*resourceapi.ResourceSlice{{Spec: resourceapi.ResourceSliceSpec{
		Driver: "gpu.nvidia.com", NodeName: ptr.To("dra-0"),
		Devices: []resourceapi.Device{{Name: "gpu-0", Attributes: map[resourceapi.QualifiedName]resourceapi.DeviceAttribute{
			gpu.ProductNameAttribute: {StringValue: ptr.To("NVIDIA-H100-80GB-HBM3")}}}},
	}}}
	gpuClass := map[v1.ResourceName]*resourceapi.DeviceClass{gpu.ResourceName: {}}
	for _, tt := range []struct {
		name    string
		classes map[v1.ResourceName]*resourceapi.DeviceClass
		accepts string
		want    *fwk.Status
	}{
		{"the published model is accepted", gpuClass, "NVIDIA-H100-80GB-HBM3", nil},
		{"another model", gpuClass, "Tesla-T4", fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonModelNotAccepted)},
		{"no DeviceClass maps GPUs", nil, "NVIDIA-H100-80GB-HBM3", fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonNoModelLabel)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fh, err := frameworkruntime.NewFramework(context.Background(), nil, nil,
				frameworkruntime.WithSharedDRAManager(plugintest.DRAManager{Classes: tt.classes, Slices: slices}))
			if err != nil {
				t.Fatal(err)
			}
			pl, err := New(context.Background(), plugintest.Args(t, &configv1.GPUModelArgs{}, &config.GPUModelArgs{}), fh)
			if err != nil {
				t.Fatal(err)
			}
			pod := plugintest.GPUPod("p", "1", "1Gi", 1).Annotation(gpu.ModelAnnotation, tt.accepts).Obj()
			if got := plugintest.Filter(t, pl, pod, plugintest.NodeInfo(node)); !got.Equal(tt.want) {
				t.Errorf("Filter = %v, want %v", got, tt.want)
			}
		})
	}
}
