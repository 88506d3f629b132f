// Package validation checks plugin args after defaulting, returning errors that name the field.
package validation

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
)

// MaxInterconnects bounds the configured interconnects, so a node's set of them fits one machine word.
const MaxInterconnects = 64

// ValidateGPUModelArgs validates GPUModel's args.
func ValidateGPUModelArgs(path *field.Path, args *config.GPUModelArgs) error {
	return validateLabelKey(path.Child("modelLabel"), args.ModelLabel).ToAggregate()
}

// ValidateInterconnectArgs validates Interconnect's args: unique lower-case names, each revealed by at
// least one well-formed node label.
func ValidateInterconnectArgs(path *field.Path, args *config.InterconnectArgs) error {
	var errs field.ErrorList
	if n := len(args.Interconnects); n > MaxInterconnects {
		errs = append(errs, field.TooMany(path.Child("interconnects"), n, MaxInterconnects))
	}
	names := sets.New[string]()
	for i, ic := range args.Interconnects {
		p := path.Child("interconnects").Index(i)
		errs = append(errs, validateUniqueName(p.Child("name"), ic.Name, "interconnect", "infiniband", names)...)
		if len(ic.NodeLabels) == 0 {
			errs = append(errs, field.Required(p.Child("nodeLabels"), "at least one node label must reveal the interconnect"))
		}
		for j, l := range ic.NodeLabels {
			lp := p.Child("nodeLabels").Index(j)
			errs = append(errs, validateLabelKey(lp.Child("key"), l.Key)...)
			for _, msg := range validation.IsValidLabelValue(l.Value) {
				errs = append(errs, field.Invalid(lp.Child("value"), l.Value, msg))
			}
		}
	}
	levels, labels := sets.New[string](), sets.New[string]()
	for i, l := range args.TopologyLevels {
		p := path.Child("topologyLevels").Index(i)
		errs = append(errs, validateUniqueName(p.Child("name"), l.Name, "topology level", "ib-fabric", levels)...)
		errs = append(errs, validateLabelKey(p.Child("nodeLabel"), l.NodeLabel)...)
		if l.NodeLabel != "" && labels.Has(l.NodeLabel) {
			errs = append(errs, field.Duplicate(p.Child("nodeLabel"), l.NodeLabel))
		}
		labels.Insert(l.NodeLabel)
	}
	return errs.ToAggregate()
}

// Upper bounds on the hold-backs: far above any machine's per-GPU share, low enough that multiplying
// by a node's GPU count cannot overflow.
var (
	maxCPUPerGPU    = resource.MustParse("1024")
	maxMemoryPerGPU = resource.MustParse("64Ti")
)

// ValidateAntiStrandingArgs validates AntiStranding's args: hold-backs between zero and a sane bound.
func ValidateAntiStrandingArgs(path *field.Path, args *config.AntiStrandingArgs) error {
	var errs field.ErrorList
	errs = append(errs, validateRange(path.Child("cpuPerGPU"), args.CPUPerGPU, maxCPUPerGPU)...)
	errs = append(errs, validateRange(path.Child("memoryPerGPU"), args.MemoryPerGPU, maxMemoryPerGPU)...)
	return errs.ToAggregate()
}

// validateUniqueName checks a name Pods refer to: present, a lower-case DNS label, not in seen
// (which it joins).
func validateUniqueName(p *field.Path, name, what, example string, seen sets.Set[string]) field.ErrorList {
	defer seen.Insert(name)
	switch {
	case name == "":
		return field.ErrorList{field.Required(p, "a "+what+" needs a name")}
	case len(validation.IsDNS1123Label(name)) > 0:
		return field.ErrorList{field.Invalid(p, name, "must be a lower-case DNS label, e.g. "+example)}
	case seen.Has(name):
		return field.ErrorList{field.Duplicate(p, name)}
	}
	return nil
}

func validateLabelKey(p *field.Path, key string) field.ErrorList {
	if key == "" {
		return field.ErrorList{field.Required(p, "a node label key is required")}
	}
	return metav1validation.ValidateLabelName(key, p)
}

func validateRange(p *field.Path, q, maxQ resource.Quantity) field.ErrorList {
	if q.Sign() < 0 {
		return field.ErrorList{field.Invalid(p, q.String(), "must not be negative")}
	}
	if q.Cmp(maxQ) > 0 {
		return field.ErrorList{field.Invalid(p, q.String(), "must be at most "+maxQ.String())}
	}
	return nil
}

// MaxWindowSize bounds the learning window's memory.
const MaxWindowSize = 1000000

// ValidateGPUFragmentationArgs validates GPUFragmentation's args.
func ValidateGPUFragmentationArgs(path *field.Path, args *config.GPUFragmentationArgs) error {
	var errs field.ErrorList
	if args.WindowSize < 1 || args.WindowSize > MaxWindowSize {
		errs = append(errs, field.Invalid(path.Child("windowSize"), args.WindowSize, fmt.Sprintf("must be between 1 and %d", MaxWindowSize)))
	}
	errs = append(errs, validateLabelKey(path.Child("modelLabel"), args.ModelLabel)...)
	if args.StrandedPercent < 0 || args.StrandedPercent > 100 {
		errs = append(errs, field.Invalid(path.Child("strandedPercent"), args.StrandedPercent, "must be between 0 and 100"))
	}
	if args.ScarcityPercent < 0 || args.ScarcityPercent > 100 {
		errs = append(errs, field.Invalid(path.Child("scarcityPercent"), args.ScarcityPercent, "must be between 0 and 100"))
	}
	for i, s := range args.Workload {
		p := path.Child("workload").Index(i)
		errs = append(errs, validateRange(p.Child("cpu"), s.CPU, maxShapeCPU)...)
		errs = append(errs, validateRange(p.Child("memory"), s.Memory, maxShapeMemory)...)
		if s.GPUs < 0 || s.GPUs > gpu.MaxGPUsPerNode {
			errs = append(errs, field.Invalid(p.Child("gpus"), s.GPUs, fmt.Sprintf("must be between 0 and %d", gpu.MaxGPUsPerNode)))
		}
		if s.GPUFraction != "" {
			if s.GPUs != 0 {
				errs = append(errs, field.Invalid(p.Child("gpuFraction"), s.GPUFraction, "gpus and gpuFraction are mutually exclusive"))
			} else if _, err := gpu.ParseFraction(s.GPUFraction); err != nil {
				errs = append(errs, field.Invalid(p.Child("gpuFraction"), s.GPUFraction, err.Error()))
			}
		}
		if s.Weight < 1 {
			errs = append(errs, field.Invalid(p.Child("weight"), s.Weight, "must be at least 1"))
		}
		for j, m := range s.Models {
			for _, msg := range validation.IsValidLabelValue(m) {
				errs = append(errs, field.Invalid(p.Child("models").Index(j), m, msg))
			}
		}
	}
	return errs.ToAggregate()
}

var (
	maxShapeCPU    = resource.MustParse("100000")
	maxShapeMemory = resource.MustParse("1Pi")
)
