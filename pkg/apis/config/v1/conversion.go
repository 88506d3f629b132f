package v1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/conversion"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config"
)

// Convert_v1_AntiStrandingArgs_To_config_AntiStrandingArgs converts optional quantities; defaulting
// has filled them, a nil left over means zero.
func Convert_v1_AntiStrandingArgs_To_config_AntiStrandingArgs(in *AntiStrandingArgs, out *config.AntiStrandingArgs, s conversion.Scope) error {
	if err := autoConvert_v1_AntiStrandingArgs_To_config_AntiStrandingArgs(in, out, s); err != nil {
		return err
	}
	out.CPUPerGPU = quantityOrZero(in.CPUPerGPU)
	out.MemoryPerGPU = quantityOrZero(in.MemoryPerGPU)
	return nil
}

// Convert_config_AntiStrandingArgs_To_v1_AntiStrandingArgs converts quantities to optional ones.
func Convert_config_AntiStrandingArgs_To_v1_AntiStrandingArgs(in *config.AntiStrandingArgs, out *AntiStrandingArgs, s conversion.Scope) error {
	if err := autoConvert_config_AntiStrandingArgs_To_v1_AntiStrandingArgs(in, out, s); err != nil {
		return err
	}
	cpu, mem := in.CPUPerGPU.DeepCopy(), in.MemoryPerGPU.DeepCopy()
	out.CPUPerGPU, out.MemoryPerGPU = &cpu, &mem
	return nil
}

func quantityOrZero(q *resource.Quantity) resource.Quantity {
	if q == nil {
		return resource.Quantity{}
	}
	return q.DeepCopy()
}
