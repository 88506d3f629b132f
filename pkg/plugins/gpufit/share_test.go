package gpufit

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientsetfake "k8s.io/client-go/kubernetes/fake"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/plugintest"
)

func sharePod(name, fraction string) *v1.Pod {
	return plugintest.GPUPod(name, "1", "1Gi", 0).Annotation(gpu.FractionAnnotation, fraction).Obj()
}

// onGPU is a share already placed on GPU idx of node n.
func onGPU(name, fraction, idx, n string) *v1.Pod {
	p := sharePod(name, fraction)
	p.Spec.NodeName = n
	p.Annotations[gpu.GPUIndexAnnotation] = idx
	return p
}

func TestFilterShares(t *testing.T) {
	node2 := plugintest.GPUNode("n", "32", "128Gi", 2)
	tests := []struct {
		name     string
		pod      *v1.Pod
		existing []*v1.Pod
		want     *fwk.Status
	}{
		{name: "share on an idle node", pod: sharePod("p", "0.5")},
		{name: "share beside another on one GPU", pod: sharePod("p", "0.5"), existing: []*v1.Pod{onGPU("a", "0.5", "0", "n")}},
		{name: "share on the other GPU when the shared one is too full", pod: sharePod("p", "0.6"), existing: []*v1.Pod{onGPU("a", "0.5", "0", "n")}},
		{name: "no GPU has the share free", pod: sharePod("p", "0.6"),
			existing: []*v1.Pod{onGPU("a", "0.5", "0", "n"), onGPU("b", "0.5", "1", "n")},
			want:     fwk.NewStatus(fwk.Unschedulable, ReasonInsufficientGPUShare)},
		{name: "a whole-GPU pod never takes a shared GPU", pod: plugintest.GPUPod("p", "1", "1Gi", 2).Obj(),
			existing: []*v1.Pod{onGPU("a", "0.1", "1", "n")},
			want:     fwk.NewStatus(fwk.Unschedulable, ReasonInsufficientGPUs)},
		{name: "a whole-GPU pod takes the unshared GPU", pod: plugintest.GPUPod("p", "1", "1Gi", 1).Obj(),
			existing: []*v1.Pod{onGPU("a", "0.1", "1", "n")}},
		{name: "a share without a GPU index counts as a whole GPU", pod: plugintest.GPUPod("p", "1", "1Gi", 2).Obj(),
			existing: []*v1.Pod{func() *v1.Pod { p := sharePod("a", "0.1"); p.Spec.NodeName = "n"; return p }()},
			want:     fwk.NewStatus(fwk.Unschedulable, ReasonInsufficientGPUs)},
		{name: "fraction and whole GPUs together", pod: plugintest.GPUPod("p", "1", "1Gi", 1).Annotation(gpu.FractionAnnotation, "0.5").Obj(),
			want: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, "annotation gpu-fraction and a nvidia.com/gpu request are mutually exclusive")},
		{name: "malformed fraction", pod: sharePod("p", "1.5"),
			want: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, `annotation gpu-fraction: GPU fraction "1.5": want a decimal between 0 and 1 like 0.5`)},
	}
	pl := &GPUFit{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := plugintest.Filter(t, pl, tt.pod, plugintest.NodeInfo(node2, tt.existing...))
			if !got.Equal(tt.want) {
				t.Errorf("status = %v, want %v", got, tt.want)
			}
		})
	}
}

// reserve runs PreFilter and Reserve for pod on node n, as the framework does after Filter.
func reserve(t *testing.T, pod *v1.Pod, node *v1.Node, existing ...*v1.Pod) (*GPUFit, *fwk.Status) {
	t.Helper()
	snapshot := cache.NewSnapshot(existing, []*v1.Node{node})
	fh, err := plugintest.Handle(snapshot)
	if err != nil {
		t.Fatal(err)
	}
	pl := &GPUFit{handle: fh}
	state := framework.NewCycleState()
	if _, status := pl.PreFilter(context.Background(), state, pod, nil); !status.IsSuccess() && !status.IsSkip() {
		t.Fatal(status)
	}
	return pl, pl.Reserve(context.Background(), state, pod, node.Name)
}

func TestReservePicksTheTightestSharedGPU(t *testing.T) {
	node := plugintest.GPUNode("n", "32", "128Gi", 4)
	tests := []struct {
		name     string
		pod      *v1.Pod
		existing []*v1.Pod
		want     string
	}{
		{name: "first GPU on an idle node", pod: sharePod("p", "0.5"), want: "0"},
		{name: "the shared GPU it fits most tightly", pod: sharePod("p", "0.3"),
			existing: []*v1.Pod{onGPU("a", "0.5", "0", "n"), onGPU("b", "0.7", "2", "n")}, want: "2"},
		{name: "a fresh GPU when no shared one has room", pod: sharePod("p", "0.6"),
			existing: []*v1.Pod{onGPU("a", "0.5", "0", "n")}, want: "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, status := reserve(t, tt.pod, node, tt.existing...)
			if !status.IsSuccess() {
				t.Fatal(status)
			}
			if got := tt.pod.Annotations[gpu.GPUIndexAnnotation]; got != tt.want {
				t.Errorf("GPU index = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReserveLeavesWholeGPUPodsAlone(t *testing.T) {
	pod := plugintest.GPUPod("p", "1", "1Gi", 1).Obj()
	if _, status := reserve(t, pod, plugintest.GPUNode("n", "32", "128Gi", 4)); !status.IsSuccess() {
		t.Fatal(status)
	}
	if _, ok := pod.Annotations[gpu.GPUIndexAnnotation]; ok {
		t.Error("a whole-GPU pod got a GPU index")
	}
}

func TestUnreserveAndPreBindPreFlight(t *testing.T) {
	pod := sharePod("p", "0.5")
	pl, status := reserve(t, pod, plugintest.GPUNode("n", "32", "128Gi", 1))
	if !status.IsSuccess() {
		t.Fatal(status)
	}
	ctx := context.Background()
	if res, s := pl.PreBindPreFlight(ctx, nil, pod, "n"); !s.IsSuccess() || res == nil || !res.AllowParallel {
		t.Errorf("PreBindPreFlight with an index = %v, %v; want success, in parallel", res, s)
	}
	pl.Unreserve(ctx, nil, pod, "n")
	if _, ok := pod.Annotations[gpu.GPUIndexAnnotation]; ok {
		t.Error("Unreserve left the GPU index")
	}
	if pod.Annotations[gpu.FractionAnnotation] != "0.5" {
		t.Error("Unreserve dropped other annotations")
	}
	if _, s := pl.PreBindPreFlight(ctx, nil, pod, "n"); !s.IsSkip() {
		t.Errorf("PreBindPreFlight without an index = %v, want Skip", s)
	}
}

func TestPreBindRecordsTheGPUIndex(t *testing.T) {
	pod := onGPU("p", "0.5", "3", "n")
	client := clientsetfake.NewClientset(pod.DeepCopy())
	fh, err := frameworkruntime.NewFramework(context.Background(), nil, nil, frameworkruntime.WithClientSet(client))
	if err != nil {
		t.Fatal(err)
	}
	pl := &GPUFit{handle: fh}
	if s := pl.PreBind(context.Background(), nil, pod, "n"); !s.IsSuccess() {
		t.Fatal(s)
	}
	got, err := client.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Annotations[gpu.GPUIndexAnnotation] != "3" || got.Annotations[gpu.FractionAnnotation] != "0.5" {
		t.Errorf("annotations after PreBind = %v", got.Annotations)
	}
	missing := onGPU("gone", "0.5", "1", "n")
	if s := pl.PreBind(context.Background(), nil, missing, "n"); s.IsSuccess() || s.Code() != fwk.Error {
		t.Errorf("PreBind of a deleted pod = %v, want an error", s)
	}
}

// fixedChooser stands in for a scoring plugin that scored the share on one GPU.
type fixedChooser int

func (c fixedChooser) Clone() fwk.StateData               { return c }
func (c fixedChooser) ChooseGPU(fwk.NodeInfo) (int, bool) { return int(c), c >= 0 }

func TestReserveHonoursTheScoringPluginsChoice(t *testing.T) {
	// GPU 0 holds 0.5 and GPU 1 holds 0.3: a 0.2 share fits GPU 0 most tightly.
	node := plugintest.GPUNode("n", "8", "32Gi", 2)
	existing := []*v1.Pod{onGPU("a", "0.5", "0", "n"), onGPU("b", "0.3", "1", "n")}
	tests := []struct {
		name    string
		chooser fwk.StateData
		want    string
	}{
		{name: "no chooser: the tightest GPU", want: "0"},
		{name: "the chosen GPU", chooser: fixedChooser(1), want: "1"},
		{name: "a choice without room falls back to the tightest", chooser: fixedChooser(5), want: "0"},
		{name: "no choice falls back to the tightest", chooser: fixedChooser(-1), want: "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fh, err := plugintest.Handle(cache.NewSnapshot(existing, []*v1.Node{node}))
			if err != nil {
				t.Fatal(err)
			}
			pl, pod, state := &GPUFit{handle: fh}, sharePod("p", "0.2"), framework.NewCycleState()
			if _, status := pl.PreFilter(context.Background(), state, pod, nil); !status.IsSuccess() {
				t.Fatal(status)
			}
			if tt.chooser != nil {
				state.Write(gpu.GPUChooserKey, tt.chooser)
			}
			if status := pl.Reserve(context.Background(), state, pod, "n"); !status.IsSuccess() {
				t.Fatal(status)
			}
			if got := pod.Annotations[gpu.GPUIndexAnnotation]; got != tt.want {
				t.Errorf("GPU index = %q, want %q", got, tt.want)
			}
		})
	}
}
