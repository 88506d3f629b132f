package gpu

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
)

func gpus(n string) map[v1.ResourceName]string { return map[v1.ResourceName]string{ResourceName: n} }

// requestAndLimit is a one-container Pod with different GPU requests and limits.
func requestAndLimit(request, limit string) *v1.Pod {
	pod := st.MakePod().Name("p").Obj()
	pod.Spec.Containers = []v1.Container{{Name: "c", Resources: v1.ResourceRequirements{
		Requests: v1.ResourceList{ResourceName: resource.MustParse(request)},
		Limits:   v1.ResourceList{ResourceName: resource.MustParse(limit)},
	}}}
	return pod
}

func TestPodGPURequest(t *testing.T) {
	tests := []struct {
		name string
		pod  *v1.Pod
		want int64
	}{
		{name: "no containers", pod: st.MakePod().Name("p").Obj(), want: 0},
		{name: "CPU-only pod", pod: st.MakePod().Name("p").Req(map[v1.ResourceName]string{v1.ResourceCPU: "4"}).Obj(), want: 0},
		{name: "one container", pod: st.MakePod().Name("p").Req(gpus("2")).Obj(), want: 2},
		{name: "containers are summed", pod: st.MakePod().Name("p").Req(gpus("2")).Req(gpus("3")).Obj(), want: 5},
		{name: "GPU container beside a CPU-only one", pod: st.MakePod().Name("p").Req(gpus("1")).Req(map[v1.ResourceName]string{v1.ResourceCPU: "1"}).Obj(), want: 1},
		{name: "larger init container wins", pod: st.MakePod().Name("p").Req(gpus("1")).InitReq(gpus("4")).Obj(), want: 4},
		{name: "smaller init container is hidden by the containers", pod: st.MakePod().Name("p").Req(gpus("3")).InitReq(gpus("1")).Obj(), want: 3},
		{name: "init containers take the max, not the sum", pod: st.MakePod().Name("p").Req(gpus("1")).InitReq(gpus("2")).InitReq(gpus("5")).Obj(), want: 5},
		{name: "sidecar adds to the containers", pod: st.MakePod().Name("p").Req(gpus("1")).SidecarReq(gpus("1")).Obj(), want: 2},
		{name: "sidecar started before an init container adds to it", pod: st.MakePod().Name("p").Req(gpus("1")).SidecarReq(gpus("1")).InitReq(gpus("3")).Obj(), want: 4},
		{name: "sidecar started after an init container does not add to it", pod: st.MakePod().Name("p").Req(gpus("1")).InitReq(gpus("3")).SidecarReq(gpus("1")).Obj(), want: 3},
		{name: "overhead adds", pod: st.MakePod().Name("p").Req(gpus("1")).Overhead(v1.ResourceList{ResourceName: resource.MustParse("1")}).Obj(), want: 2},
		// resourcehelper.PodRequests reads requests only; the API server copies limits into missing
		// requests on admission, but an object that skipped that defaulting asks for nothing.
		{name: "a request beyond int64 saturates instead of wrapping", pod: st.MakePod().Name("p").Req(gpus("9223372036854775808")).Obj(), want: math.MaxInt64},
		{name: "a huge request saturates instead of wrapping to zero", pod: st.MakePod().Name("p").Req(gpus("1e19")).Obj(), want: math.MaxInt64},
		{name: "limits without requests count as nothing", pod: st.MakePod().Name("p").Lim(gpus("2")).Obj(), want: 0},
		{name: "limits above requests do not count", pod: requestAndLimit("1", "4"), want: 1},
		// nvidia.com/gpu is not a pod-level resource, so a pod-level request for it is ignored.
		{name: "pod-level GPU request is ignored", pod: st.MakePod().Name("p").Req(gpus("1")).Resources(v1.ResourceRequirements{Requests: v1.ResourceList{
			v1.ResourceCPU: resource.MustParse("1"), ResourceName: resource.MustParse("4")}}).Obj(), want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PodGPURequest(tt.pod); got != tt.want {
				t.Errorf("PodGPURequest = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestNodeGPUs(t *testing.T) {
	node := func(gpus string) *v1.Node {
		res := map[v1.ResourceName]string{v1.ResourceCPU: "32", v1.ResourceMemory: "128Gi"}
		if gpus != "" {
			res[ResourceName] = gpus
		}
		return st.MakeNode().Name("n").Capacity(res).Obj()
	}
	pod := func(name, n string) *v1.Pod { return st.MakePod().Name(name).UID(name).Node("n").Req(gpus(n)).Obj() }
	cpuPod := st.MakePod().Name("c").UID("c").Node("n").Req(map[v1.ResourceName]string{v1.ResourceCPU: "4"}).Obj()
	tests := []struct {
		name                  string
		node                  *v1.Node
		pods                  []*v1.Pod
		wantAllocatable, want int64
	}{
		{name: "node without GPUs", node: node(""), wantAllocatable: 0, want: 0},
		{name: "node without GPUs and a CPU pod", node: node(""), pods: []*v1.Pod{cpuPod}, wantAllocatable: 0, want: 0},
		{name: "idle GPU node", node: node("8"), wantAllocatable: 8, want: 8},
		{name: "CPU-only pods take no GPUs", node: node("8"), pods: []*v1.Pod{cpuPod}, wantAllocatable: 8, want: 8},
		{name: "pods' requests are subtracted", node: node("8"), pods: []*v1.Pod{pod("a", "2"), pod("b", "3")}, wantAllocatable: 8, want: 3},
		{name: "fully used", node: node("4"), pods: []*v1.Pod{pod("a", "4")}, wantAllocatable: 4, want: 0},
		// Assumed pods can overcommit a node whose allocatable shrank; free goes negative then.
		{name: "overcommitted", node: node("2"), pods: []*v1.Pod{pod("a", "3")}, wantAllocatable: 2, want: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ni := framework.NewNodeInfo(tt.pods...)
			ni.SetNode(tt.node)
			alloc, free := NodeGPUs(ni)
			if alloc != tt.wantAllocatable || free != tt.want {
				t.Errorf("NodeGPUs = (%d, %d), want (%d, %d)", alloc, free, tt.wantAllocatable, tt.want)
			}
		})
	}
}

func TestParseList(t *testing.T) {
	const ann = "example.io/list"
	many := func(n int) string {
		names := make([]string, n)
		for i := range names {
			names[i] = fmt.Sprintf("m%d", i)
		}
		return strings.Join(names, "|")
	}
	manyWant := func(n int) []string {
		names := make([]string, n)
		for i := range names {
			names[i] = fmt.Sprintf("m%d", i)
		}
		return names
	}
	tests := []struct {
		name  string
		value string
		want  []string
		// wantErr is a fragment the error must hold besides the annotation name.
		wantErr string
	}{
		{name: "one entry", value: "infiniband", want: []string{"infiniband"}},
		{name: "lower-cased", value: "NVIDIA-A100-SXM4-80GB", want: []string{"nvidia-a100-sxm4-80gb"}},
		{name: "pipe separated", value: "a|b|c", want: []string{"a", "b", "c"}},
		{name: "comma separated", value: "a,b,c", want: []string{"a", "b", "c"}},
		{name: "mixed separators", value: "a|b,c", want: []string{"a", "b", "c"}},
		{name: "whitespace around entries", value: "  a | b ,\tc\n", want: []string{"a", "b", "c"}},
		{name: "order kept", value: "z|a", want: []string{"z", "a"}},
		{name: "label value characters", value: "A_b.c-1", want: []string{"a_b.c-1"}},
		{name: "63-character entry", value: strings.Repeat("x", 63), want: []string{strings.Repeat("x", 63)}},
		{name: "64 entries", value: many(64), want: manyWant(64)},
		{name: "empty", value: "", wantErr: "empty list"},
		{name: "blank", value: "  \t ", wantErr: "empty list"},
		{name: "empty entry in the middle", value: "a||b", wantErr: "has an empty entry"},
		{name: "empty entry between mixed separators", value: "a|,b", wantErr: "has an empty entry"},
		{name: "leading separator", value: "|a", wantErr: "has an empty entry"},
		{name: "trailing separator", value: "a,", wantErr: "has an empty entry"},
		{name: "only separators", value: "|,|", wantErr: "has an empty entry"},
		{name: "blank entry", value: "a| |b", wantErr: "has an empty entry"},
		{name: "a repeat is dropped", value: "a|b|a", want: []string{"a", "b"}},
		{name: "a repeat after lower-casing is dropped", value: "H100|h100", want: []string{"h100"}},
		{name: "space inside an entry", value: "a b", wantErr: `entry "a b" is not a valid label value`},
		{name: "slash", value: "nvidia/a100", wantErr: `entry "nvidia/a100" is not a valid label value`},
		{name: "starts with a dash", value: "-a", wantErr: `entry "-a" is not a valid label value`},
		{name: "64-character entry", value: strings.Repeat("x", 64), wantErr: "is not a valid label value"},
		{name: "65 entries", value: many(65), wantErr: "65 entries, at most 64 allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseList(ann, tt.value)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseList(%q) = %q, want an error", tt.value, got)
				}
				if msg := err.Error(); !strings.HasPrefix(msg, "annotation "+ann+": ") || !strings.Contains(msg, tt.wantErr) {
					t.Errorf("error %q, want it to name %s and hold %q", msg, ann, tt.wantErr)
				}
				if got != nil {
					t.Errorf("entries %q returned with the error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseList(%q): %v", tt.value, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseList(%q) = %q, want %q", tt.value, got, tt.want)
			}
		})
	}
}

func TestFormatParseFraction(t *testing.T) {
	for _, tt := range []struct {
		milli int64
		s     string
	}{{1, "0.001"}, {5, "0.005"}, {10, "0.01"}, {100, "0.1"}, {460, "0.46"}, {500, "0.5"}, {590, "0.59"}, {999, "0.999"}} {
		if got := FormatFraction(tt.milli); got != tt.s {
			t.Errorf("FormatFraction(%d) = %q, want %q", tt.milli, got, tt.s)
		}
	}
	for m := int64(1); m < 1000; m++ {
		if got, err := ParseFraction(FormatFraction(m)); err != nil || got != m {
			t.Fatalf("round trip %d: %d, %v", m, got, err)
		}
	}
	for s, want := range map[string]int64{".5": 500, "0.500": 500, "0.25": 250} {
		if got, err := ParseFraction(s); err != nil || got != want {
			t.Errorf("ParseFraction(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "0", "1", "1.0", "0.", ".", "0.0", "0.000", "0.0005", "00.5", "-0.5", "0.5 ", "5e-1", "0,5", "0.x"} {
		if got, err := ParseFraction(s); err == nil {
			t.Errorf("ParseFraction(%q) = %d, want an error", s, got)
		}
	}
}
