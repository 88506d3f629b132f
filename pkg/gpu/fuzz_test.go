package gpu

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

func FuzzParseList(f *testing.F) {
	for _, seed := range []string{
		"", " ", "a", "A|b", "a,b", "a|b,c", " a | b ", "a||b", "|a", "a,", "a|A", "a b", "a/b",
		"NVIDIA-A100-SXM4-80GB|NVIDIA-H100-80GB-HBM3", strings.Repeat("x", 64), strings.Repeat("a|", 64) + "a",
		"\u212a", "İ", "a|\u00a0|b", "\xff",
	} {
		f.Add(seed)
	}
	const ann = "example.io/list"
	f.Fuzz(func(t *testing.T, value string) {
		got, err := ParseList(ann, value)
		if err != nil {
			if got != nil {
				t.Fatalf("ParseList(%q) returned %q with error %v", value, got, err)
			}
			if !strings.HasPrefix(err.Error(), "annotation "+ann+": ") {
				t.Fatalf("ParseList(%q): error %q does not name the annotation", value, err)
			}
			return
		}
		if len(got) == 0 || len(got) > maxListEntries {
			t.Fatalf("ParseList(%q) = %d entries", value, len(got))
		}
		seen := make(map[string]bool, len(got))
		for _, e := range got {
			switch {
			case e == "":
				t.Fatalf("ParseList(%q): empty entry in %q", value, got)
			case strings.ToLower(e) != e:
				t.Fatalf("ParseList(%q): entry %q is not lower case", value, e)
			case len(validation.IsValidLabelValue(e)) > 0:
				t.Fatalf("ParseList(%q): entry %q is not a valid label value", value, e)
			case seen[e]:
				t.Fatalf("ParseList(%q): entry %q appears twice", value, e)
			}
			seen[e] = true
		}
		again, err := ParseList(ann, strings.Join(got, "|"))
		if err != nil {
			t.Fatalf("re-parsing %q: %v", got, err)
		}
		if strings.Join(again, "|") != strings.Join(got, "|") || len(again) != len(got) {
			t.Fatalf("re-parsing %q gave %q", got, again)
		}
	})
}

// maxFuzzQuantity bounds each fuzzed quantity so that their sum fits an int64: a request beyond
// int64 wraps in resource.Quantity.Value, which is a known limitation, not what this fuzzer checks.
var maxFuzzQuantity = resource.MustParse("1P")

func FuzzPodGPURequest(f *testing.F) {
	f.Add("1", "2", "3", "1", "8", "0")
	f.Add("0", "0", "0", "0", "0", "0")
	f.Add("4", "", "1", "", "", "1")
	f.Add("500m", "500m", "1", "250m", "2", "1m")
	f.Add("1k", "1Ki", "2e3", "1", "", "")
	f.Add("", "", "", "", "4", "")
	f.Add("-1", "2", "x", "1", "1", "1")
	f.Fuzz(func(t *testing.T, c1, c2, initC, sidecar, limit, overhead string) {
		// parse turns a fuzzed string into a quantity; the empty string means "not set".
		parse := func(s string) (q resource.Quantity, set, ok bool) {
			if s == "" {
				return q, false, true
			}
			q, err := resource.ParseQuantity(s)
			if err != nil || q.Sign() < 0 || q.Cmp(maxFuzzQuantity) > 0 {
				return q, false, false
			}
			return q, true, true
		}
		var qs [6]resource.Quantity
		var set [6]bool
		for i, s := range []string{c1, c2, initC, sidecar, limit, overhead} {
			q, isSet, ok := parse(s)
			if !ok {
				t.Skip()
			}
			qs[i], set[i] = q, isSet
		}
		req := func(i int) v1.ResourceList {
			if !set[i] {
				return nil
			}
			return v1.ResourceList{ResourceName: qs[i]}
		}
		always := v1.ContainerRestartPolicyAlways
		pod := &v1.Pod{Spec: v1.PodSpec{
			Containers: []v1.Container{
				{Name: "c1", Resources: v1.ResourceRequirements{Requests: req(0)}},
				// c2 also carries the limit, which must not count.
				{Name: "c2", Resources: v1.ResourceRequirements{Requests: req(1), Limits: req(4)}},
				// A limits-only container asks for nothing.
				{Name: "limits-only", Resources: v1.ResourceRequirements{Limits: req(4)}},
			},
			InitContainers: []v1.Container{
				{Name: "init", Resources: v1.ResourceRequirements{Requests: req(2)}},
				// The sidecar starts after the one-shot init container, so it only adds to the containers.
				{Name: "sidecar", RestartPolicy: &always, Resources: v1.ResourceRequirements{Requests: req(3)}},
			},
			Overhead: req(5),
		}}
		got := PodGPURequest(pod)

		// The expected request, in exact quantity arithmetic: max(c1+c2+sidecar, init) + overhead,
		// rounded up to whole GPUs at the end as Quantity.Value does.
		sum := qs[0].DeepCopy()
		sum.Add(qs[1])
		sum.Add(qs[3])
		if qs[2].Cmp(sum) > 0 {
			sum = qs[2].DeepCopy()
		}
		sum.Add(qs[5])
		want := sum.Value()
		if got < 0 {
			t.Fatalf("PodGPURequest = %d for non-negative requests %q", got, []string{c1, c2, initC, sidecar, limit, overhead})
		}
		if got != want {
			t.Fatalf("PodGPURequest = %d, want %d for requests %q", got, want, []string{c1, c2, initC, sidecar, limit, overhead})
		}
	})
}
