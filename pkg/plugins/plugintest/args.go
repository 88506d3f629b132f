package plugintest

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	kubeschedulerscheme "k8s.io/kubernetes/pkg/scheduler/apis/config/scheme"

	_ "github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config/scheme"
)

// Args defaults versioned args through the scheduler's scheme and converts them to internal, as
// kube-scheduler does with a profile's pluginConfig: the internal object is what New receives.
func Args[T runtime.Object](t testing.TB, versioned runtime.Object, internal T) T {
	t.Helper()
	kubeschedulerscheme.Scheme.Default(versioned)
	if err := kubeschedulerscheme.Scheme.Convert(versioned, internal, nil); err != nil {
		t.Fatalf("converting %T: %v", versioned, err)
	}
	return internal
}
