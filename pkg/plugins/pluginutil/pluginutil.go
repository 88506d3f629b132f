// Package pluginutil holds the small pieces every gpu-scheduler plugin needs the same way.
package pluginutil

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	fwk "k8s.io/kube-scheduler/framework"
)

// ReadState reads the state a plugin wrote under key earlier in this scheduling cycle.
func ReadState[T fwk.StateData](cycleState fwk.CycleState, key fwk.StateKey) (T, error) {
	var zero T
	data, err := cycleState.Read(key)
	if err != nil {
		return zero, fmt.Errorf("reading %q from cycle state: %w", key, err)
	}
	s, ok := data.(T)
	if !ok {
		return zero, fmt.Errorf("cycle state %q holds %T, want %T", key, data, zero)
	}
	return s, nil
}

// DecodeArgs asserts that the framework handed the plugin its internal args type; a nil obj means
// the profile has no pluginConfig for it, which the framework fills with defaults beforehand.
func DecodeArgs[T runtime.Object](plugin string, obj runtime.Object) (T, error) {
	args, ok := obj.(T)
	if !ok {
		var zero T
		return zero, fmt.Errorf("%s: want args of type %T, got %T", plugin, zero, obj)
	}
	return args, nil
}

// InvertMinMax rescales raw scores where lower is better onto [0, MaxNodeScore]: the lowest becomes
// MaxNodeScore and the highest 0. Equal raw scores all become MaxNodeScore.
func InvertMinMax(scores fwk.NodeScoreList) {
	if len(scores) == 0 {
		return
	}
	lo, hi := scores[0].Score, scores[0].Score
	for _, s := range scores[1:] {
		lo, hi = min(lo, s.Score), max(hi, s.Score)
	}
	for i := range scores {
		if hi == lo {
			scores[i].Score = fwk.MaxNodeScore
			continue
		}
		scores[i].Score = fwk.MaxNodeScore * (hi - scores[i].Score) / (hi - lo)
	}
}
