package sim

import v1 "k8s.io/api/core/v1"

// WholeGPUForShare is kept only until replay.go moves to shared GPUs. TODO(lead): delete.
func WholeGPUForShare(pod *v1.Pod) *v1.Pod { return pod }
