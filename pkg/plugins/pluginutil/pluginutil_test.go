package pluginutil

import (
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config"
)

type stateA struct{ n int }

func (s *stateA) Clone() fwk.StateData { return s }

type stateB struct{}

func (s *stateB) Clone() fwk.StateData { return s }

func TestReadState(t *testing.T) {
	const key fwk.StateKey = "PreFilterTest"
	state := framework.NewCycleState()

	if _, err := ReadState[*stateA](state, key); err == nil || !strings.Contains(err.Error(), `reading "PreFilterTest" from cycle state`) {
		t.Errorf("missing key: error %v, want one naming the key", err)
	}

	state.Write(key, &stateB{})
	got, err := ReadState[*stateA](state, key)
	if err == nil || got != nil {
		t.Fatalf("wrong type: got %v, %v; want an error", got, err)
	}
	if want := `cycle state "PreFilterTest" holds *pluginutil.stateB, want *pluginutil.stateA`; err.Error() != want {
		t.Errorf("wrong type: error %q, want %q", err, want)
	}

	written := &stateA{n: 7}
	state.Write(key, written)
	got, err = ReadState[*stateA](state, key)
	if err != nil {
		t.Fatal(err)
	}
	if got != written {
		t.Errorf("got %v, want the state written", got)
	}
}

func TestDecodeArgs(t *testing.T) {
	args := &config.GPUModelArgs{ModelLabel: "x"}
	got, err := DecodeArgs[*config.GPUModelArgs]("GPUModel", args)
	if err != nil || got != args {
		t.Errorf("right type: got %v, %v; want the args back", got, err)
	}

	tests := []struct {
		name string
		obj  runtime.Object
		want string
	}{
		{name: "other args type", obj: &config.InterconnectArgs{}, want: "GPUModel: want args of type *config.GPUModelArgs, got *config.InterconnectArgs"},
		{name: "nil", obj: nil, want: "GPUModel: want args of type *config.GPUModelArgs, got <nil>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeArgs[*config.GPUModelArgs]("GPUModel", tt.obj)
			if err == nil || got != nil {
				t.Fatalf("got %v, %v; want an error", got, err)
			}
			if err.Error() != tt.want {
				t.Errorf("error %q, want %q", err, tt.want)
			}
		})
	}
}

func TestInvertMinMax(t *testing.T) {
	tests := []struct {
		name      string
		raw, want []int64
	}{
		{name: "empty", raw: []int64{}, want: []int64{}},
		{name: "single", raw: []int64{5}, want: []int64{100}},
		{name: "single zero", raw: []int64{0}, want: []int64{100}},
		{name: "all equal", raw: []int64{3, 3, 3}, want: []int64{100, 100, 100}},
		{name: "ascending", raw: []int64{0, 5, 10}, want: []int64{100, 50, 0}},
		{name: "unordered", raw: []int64{3, 1, 2}, want: []int64{0, 100, 50}},
		{name: "lowest not zero", raw: []int64{2, 8, 6}, want: []int64{100, 0, 33}},
		{name: "truncates toward zero", raw: []int64{0, 1, 3}, want: []int64{100, 66, 0}},
		{name: "two tied lowest", raw: []int64{4, 4, 7}, want: []int64{100, 100, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scores := make(fwk.NodeScoreList, len(tt.raw))
			for i, s := range tt.raw {
				scores[i] = fwk.NodeScore{Name: string(rune('a' + i)), Score: s}
			}
			InvertMinMax(scores)
			got := make([]int64, len(scores))
			for i, s := range scores {
				if want := string(rune('a' + i)); s.Name != want {
					t.Errorf("score %d renamed to %q", i, s.Name)
				}
				got[i] = s.Score
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("InvertMinMax(%v) = %v, want %v", tt.raw, got, tt.want)
			}
		})
	}
	// A nil list must not panic either.
	InvertMinMax(nil)
}
