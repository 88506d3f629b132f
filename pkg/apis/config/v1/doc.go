// +k8s:deepcopy-gen=package
// +k8s:conversion-gen=github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config
// +k8s:defaulter-gen=TypeMeta
// +k8s:defaulter-gen-input=github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config/v1
// +groupName=kubescheduler.config.k8s.io

// Package v1 holds the versioned (v1) types of gpu-scheduler's plugin args, as users write them in a
// KubeSchedulerConfiguration, with their defaults.
package v1
