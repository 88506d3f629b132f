// Package scheme registers gpu-scheduler's plugin args with kube-scheduler's config scheme, so a
// KubeSchedulerConfiguration's pluginConfig decodes, defaults and converts them. Blank-import it.
package scheme

import (
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	kubeschedulerscheme "k8s.io/kubernetes/pkg/scheduler/apis/config/scheme"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config"
	v1 "github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config/v1"
)

func init() {
	utilruntime.Must(config.AddToScheme(kubeschedulerscheme.Scheme))
	utilruntime.Must(v1.AddToScheme(kubeschedulerscheme.Scheme))
}
