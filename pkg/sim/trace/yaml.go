package trace

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"sigs.k8s.io/scheduler-plugins/apis/scheduling/v1alpha1"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
)

// MaxYAMLBytes caps the size of a cluster or workload YAML file.
const MaxYAMLBytes = 64 << 20

// DefaultMaxPods is the pods capacity of a YAML node without maxPods, the kubelet's default.
const DefaultMaxPods = 110

// ClusterFile is the YAML cluster format: node shapes, each expanded into Count nodes.
type ClusterFile struct {
	Nodes []NodeShape `json:"nodes"`
}

// NodeShape is one kind of node.
type NodeShape struct {
	// Name names the node, or with Count the nodes Name-0 .. Name-(Count-1).
	Name string `json:"name"`
	// Count is how many nodes of this shape; absent means one node named Name.
	Count *int64 `json:"count,omitempty"`
	// CPU and Memory are Kubernetes quantities ("96", "500m"; "768Gi"); both required.
	CPU    string `json:"cpu"`
	Memory string `json:"memory"`
	// GPUs is the node's whole GPUs (gpu.ResourceName), 0 for a CPU-only node.
	GPUs int64 `json:"gpus,omitempty"`
	// Model is the GPU model, written as the gpu.DefaultModelLabel label, or with DRA as the devices'
	// productName.
	Model string `json:"model,omitempty"`
	// DRA publishes the GPUs through NVIDIA's DRA driver (a ResourceSlice of GPUs devices) instead of
	// the device plugin's allocatable.
	DRA bool `json:"dra,omitempty"`
	// MaxPods is the pods capacity, DefaultMaxPods when absent.
	MaxPods *int64 `json:"maxPods,omitempty"`
	// Labels are extra node labels, e.g. interconnect.gpu-scheduler.io/infiniband: "true".
	Labels map[string]string `json:"labels,omitempty"`
	// Taints are the node's taints.
	Taints []TaintShape `json:"taints,omitempty"`
}

// TaintShape is a node taint.
type TaintShape struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect"`
}

// TolerationShape is a pod toleration: operator Equal (the default) matches key and value, Exists
// matches the key alone (any key when empty); an empty effect matches every effect.
type TolerationShape struct {
	Key      string `json:"key,omitempty"`
	Operator string `json:"operator,omitempty"`
	Value    string `json:"value,omitempty"`
	Effect   string `json:"effect,omitempty"`
}

// WorkloadFile is the YAML workload format: pod shapes, each expanded into Count pods, and the
// PodGroups (gangs) some of them belong to.
type WorkloadFile struct {
	Pods      []PodShape      `json:"pods"`
	PodGroups []PodGroupShape `json:"podGroups,omitempty"`
}

// PodGroupShape is a gang, Coscheduling's PodGroup: its members are the Pods whose
// scheduling.x-k8s.io/pod-group label names it, and none of them runs before MinMember of them can.
// gpu-sim whatif places a gang's members together, all or nothing; inflate and replay place them
// one by one.
type PodGroupShape struct {
	Name      string `json:"name"`
	MinMember int32  `json:"minMember"`
}

// PodShape is one kind of pod.
type PodShape struct {
	// Name names the pod, or with Count the pods Name-0 .. Name-(Count-1).
	Name string `json:"name"`
	// Count is how many pods of this shape; absent means one pod named Name.
	Count *int64 `json:"count,omitempty"`
	// CPU and Memory are Kubernetes quantities, requested (and limited) when present.
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
	// GPUs is the whole GPUs requested.
	GPUs *int64 `json:"gpus,omitempty"`
	// GPUFraction is a share of one GPU, a decimal in (0, 1) with at most 3 decimals; excludes GPUs.
	GPUFraction *string `json:"gpuFraction,omitempty"`
	// Models are the accepted GPU models (gpu.ModelAnnotation); any model when empty.
	Models StringList `json:"models,omitempty"`
	// Interconnect are the interconnects the pod requires (gpu.InterconnectAnnotation), e.g. infiniband.
	Interconnect StringList `json:"interconnect,omitempty"`
	// PreferredInterconnect are the interconnects it would like (gpu.PreferredInterconnectAnnotation).
	PreferredInterconnect StringList `json:"preferredInterconnect,omitempty"`
	// Labels and Annotations are added to the pod.
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Tolerations let the pod onto tainted nodes.
	Tolerations []TolerationShape `json:"tolerations,omitempty"`
	// CreatedAt is the arrival in seconds from the start, 0 when absent; DeletedAt the departure,
	// never when absent.
	CreatedAt *int64 `json:"createdAt,omitempty"`
	DeletedAt *int64 `json:"deletedAt,omitempty"`
	// Node is the node that held the Pod when a snapshot was taken (gpu-sim whatif keeps it there);
	// inflate and replay place every Pod themselves.
	Node string `json:"node,omitempty"`
}

// StringList is a YAML list of strings that also accepts a single string.
type StringList []string

// UnmarshalJSON accepts ["a", "b"] or "a".
func (l *StringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = StringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("want a string or a list of strings, got %s", truncate(string(b), 40))
	}
	*l = many
	return nil
}

// LoadClusterYAML reads a cluster YAML file. See ReadClusterYAML.
func LoadClusterYAML(path string) (Cluster, error) {
	f, err := os.Open(path)
	if err != nil {
		return Cluster{}, err
	}
	defer f.Close()
	return ReadClusterYAML(f, filepath.Base(path))
}

// LoadWorkloadYAML reads a workload YAML file. See ReadWorkloadYAML.
func LoadWorkloadYAML(path string) ([]Pod, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadWorkloadYAML(f, filepath.Base(path))
}

// readEntries reads a YAML file whose only field, list, is a list of entries, and decodes each entry
// strictly into a fresh T, so that errors name the entry.
func readEntries[T any](r io.Reader, source, list string) ([]T, error) {
	top, err := readLists(r, source, list)
	if err != nil {
		return nil, err
	}
	return decodeEntries[T](top[list], source, list)
}

// readLists reads a YAML file whose fields are lists: list, which must not be empty, and the
// optional ones.
func readLists(r io.Reader, source, list string, optional ...string) (map[string][]any, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxYAMLBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if len(data) > MaxYAMLBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", source, MaxYAMLBytes)
	}
	var top map[string][]any
	if err := yaml.UnmarshalStrict(data, &top); err != nil {
		return nil, fmt.Errorf("%s: %s", source, cleanYAMLError(err))
	}
	for k := range top {
		if k != list && !slices.Contains(optional, k) {
			want := strconv.Quote(list)
			for _, o := range optional {
				want += " and " + strconv.Quote(o)
			}
			return nil, fmt.Errorf("%s: unknown field %q, want only %s", source, k, want)
		}
	}
	if len(top[list]) == 0 {
		return nil, fmt.Errorf("%s: no %s", source, list)
	}
	return top, nil
}

// decodeEntries decodes each entry of list strictly into a fresh T, so that errors name the entry.
func decodeEntries[T any](raw []any, source, list string) ([]T, error) {
	if len(raw) > MaxObjects {
		return nil, fmt.Errorf("%s: more than %d %s", source, MaxObjects, list)
	}
	entries := make([]T, len(raw))
	var total int64 // objects the entries will make, checked before any is made
	for i, entry := range raw {
		// Back to YAML (JSON is YAML) so that sigs.k8s.io/yaml turns numbers into strings where the
		// field is a string, e.g. cpu: 8.
		b, err := json.Marshal(entry)
		if err == nil {
			err = yaml.UnmarshalStrict(b, &entries[i])
		}
		if err != nil {
			var name string
			if m, ok := entry.(map[string]any); ok {
				name, _ = m["name"].(string)
			}
			return nil, fmt.Errorf("%s: %s[%d] %q: %s", source, list, i, truncate(name, 80), cleanYAMLError(err))
		}
		n := int64(1)
		if c := countOf(&entries[i]); c != nil {
			n = max(*c, 0)
		}
		if total += n; n > MaxObjects || total > MaxObjects {
			var name string
			if m, ok := entry.(map[string]any); ok {
				name, _ = m["name"].(string)
			}
			return nil, fmt.Errorf("%s: %s[%d] %q: count %d: more than %d %s in all", source, list, i, truncate(name, 80), n, MaxObjects, list)
		}
	}
	return entries, nil
}

func countOf(entry any) *int64 {
	switch e := entry.(type) {
	case *NodeShape:
		return e.Count
	case *PodShape:
		return e.Count
	}
	return nil
}

// cleanYAMLError drops sigs.k8s.io/yaml's layers of prefixes.
func cleanYAMLError(err error) string {
	s := err.Error()
	for _, prefix := range []string{"error converting YAML to JSON: ", "error unmarshaling JSON: ", "while decoding JSON: ", "json: "} {
		s = strings.TrimPrefix(s, prefix)
	}
	return s
}

// ReadClusterYAML reads the YAML cluster format (a ClusterFile; see README.md) and expands it into
// Ready nodes, with a ResourceSlice for each DRA node; source names it in errors. Unknown fields are
// errors, and so is every invalid entry, named by its index and name.
func ReadClusterYAML(r io.Reader, source string) (Cluster, error) {
	entries, err := readEntries[NodeShape](r, source, "nodes")
	if err != nil {
		return Cluster{}, err
	}
	file := ClusterFile{Nodes: entries}
	var (
		c     Cluster
		names = make(map[string]int) // node name -> entry index
	)
	for i := range file.Nodes {
		e := &file.Nodes[i]
		fail := func(format string, args ...any) error {
			return fmt.Errorf("%s: nodes[%d] %q: %s", source, i, truncate(e.Name, 80), fmt.Sprintf(format, args...))
		}
		shape, err := e.shape()
		if err != nil {
			return Cluster{}, fail("%v", err)
		}
		expanded, err := expandNames(e.Name, e.Count)
		if err != nil {
			return Cluster{}, fail("%v", err)
		}
		for _, name := range expanded {
			if msg := checkNodeName(name); msg != "" {
				return Cluster{}, fail("node name %q: %s", truncate(name, 80), msg)
			}
			if j, dup := names[name]; dup {
				return Cluster{}, fail("node name %q is also made by nodes[%d] %q", name, j, file.Nodes[j].Name)
			}
			names[name] = i
			shape.name = name
			c.Nodes = append(c.Nodes, newNode(&shape))
			if e.DRA {
				c.Slices = append(c.Slices, gpu.NVIDIAGPUSlice(name, e.Model, int(e.GPUs)))
			}
		}
	}
	return c, nil
}

func (e *NodeShape) shape() (nodeShape, error) {
	s := nodeShape{gpus: e.GPUs, maxPods: DefaultMaxPods}
	if e.DRA {
		s.gpus = 0 // the devices of its ResourceSlice
	}
	var err error
	if s.cpu, err = quantity("cpu", e.CPU, true); err != nil {
		return s, err
	}
	if s.memory, err = quantity("memory", e.Memory, true); err != nil {
		return s, err
	}
	if e.GPUs < 0 || e.GPUs > MaxGPUsPerObject {
		return s, fmt.Errorf("gpus %d: want 0 to %d", e.GPUs, MaxGPUsPerObject)
	}
	if e.MaxPods != nil {
		if *e.MaxPods < 0 || *e.MaxPods > MaxObjects {
			return s, fmt.Errorf("maxPods %d: want 0 to %d", *e.MaxPods, MaxObjects)
		}
		s.maxPods = *e.MaxPods
	}
	if err := checkLabels("labels", e.Labels); err != nil {
		return s, err
	}
	if _, ok := e.Labels[v1.LabelHostname]; ok {
		return s, fmt.Errorf("labels: %s is set from the node name", v1.LabelHostname)
	}
	s.labels = e.Labels
	if e.DRA {
		if e.GPUs == 0 {
			return s, fmt.Errorf("dra on a node without gpus")
		}
		if e.GPUs > resourceapi.ResourceSliceMaxDevices {
			return s, fmt.Errorf("gpus %d: a DRA node's ResourceSlice holds at most %d devices", e.GPUs, resourceapi.ResourceSliceMaxDevices)
		}
	}
	if e.Model != "" {
		if e.GPUs == 0 {
			return s, fmt.Errorf("model %q on a node without gpus", e.Model)
		}
		if msgs := validation.IsValidLabelValue(e.Model); len(msgs) > 0 {
			return s, fmt.Errorf("model %q: %s", e.Model, msgs[0])
		}
		if l, ok := e.Labels[gpu.DefaultModelLabel]; ok && l != e.Model {
			return s, fmt.Errorf("model %q and labels[%s] %q disagree", e.Model, gpu.DefaultModelLabel, l)
		}
		if !e.DRA { // a DRA node's model is its devices' productName
			s.labels = make(map[string]string, len(e.Labels)+1)
			for k, v := range e.Labels {
				s.labels[k] = v
			}
			s.labels[gpu.DefaultModelLabel] = e.Model
		}
	}
	seen := make(map[string]bool)
	for j, t := range e.Taints {
		if msgs := validation.IsQualifiedName(t.Key); len(msgs) > 0 {
			return s, fmt.Errorf("taints[%d]: key %q: %s", j, t.Key, msgs[0])
		}
		if msgs := validation.IsValidLabelValue(t.Value); len(msgs) > 0 {
			return s, fmt.Errorf("taints[%d]: value %q: %s", j, t.Value, msgs[0])
		}
		effect := v1.TaintEffect(t.Effect)
		switch effect {
		case v1.TaintEffectNoSchedule, v1.TaintEffectPreferNoSchedule, v1.TaintEffectNoExecute:
		default:
			return s, fmt.Errorf("taints[%d]: effect %q: want NoSchedule, PreferNoSchedule or NoExecute", j, t.Effect)
		}
		if seen[t.Key+":"+t.Effect] {
			return s, fmt.Errorf("taints[%d]: a second %s taint with key %q", j, t.Effect, t.Key)
		}
		seen[t.Key+":"+t.Effect] = true
		s.taints = append(s.taints, v1.Taint{Key: t.Key, Value: t.Value, Effect: effect})
	}
	return s, nil
}

// ReadWorkloadYAML reads the YAML workload format (a WorkloadFile; see README.md) and expands it into
// pods; source names it in errors. Unknown fields are errors, and so is every invalid entry, named by
// its index and name.
func ReadWorkloadYAML(r io.Reader, source string) ([]Pod, error) {
	top, err := readLists(r, source, "pods", "podGroups")
	if err != nil {
		return nil, err
	}
	entries, err := decodeEntries[PodShape](top["pods"], source, "pods")
	if err != nil {
		return nil, err
	}
	groupEntries, err := decodeEntries[PodGroupShape](top["podGroups"], source, "podGroups")
	if err != nil {
		return nil, err
	}
	gangs, err := gangsOf(groupEntries, source)
	if err != nil {
		return nil, err
	}
	file := WorkloadFile{Pods: entries}
	var (
		pods  []Pod
		names = make(map[string]int) // pod name -> entry index
	)
	for i := range file.Pods {
		e := &file.Pods[i]
		fail := func(format string, args ...any) error {
			return fmt.Errorf("%s: pods[%d] %q: %s", source, i, truncate(e.Name, 80), fmt.Sprintf(format, args...))
		}
		shape, err := e.shape()
		if err != nil {
			return nil, fail("%v", err)
		}
		created, deleted := int64(0), NoTime
		if e.CreatedAt != nil {
			if created = *e.CreatedAt; created < 0 {
				return nil, fail("createdAt %d is negative", created)
			}
		}
		if e.DeletedAt != nil {
			if deleted = *e.DeletedAt; deleted < created {
				return nil, fail("deletedAt %d is before createdAt %d", deleted, created)
			}
		}
		if e.Node != "" {
			if msg := checkNodeName(e.Node); msg != "" {
				return nil, fail("node %q: %s", truncate(e.Node, 80), msg)
			}
		}
		shape.name = e.Name
		milli, err := gpuMilli(newPod(&shape)) // every pod of the entry requests the same
		if err != nil {
			return nil, fail("%v", err)
		}
		expanded, err := expandNames(e.Name, e.Count)
		if err != nil {
			return nil, fail("%v", err)
		}
		for _, name := range expanded {
			if msg := checkName(name); msg != "" {
				return nil, fail("pod name %q: %s", truncate(name, 80), msg)
			}
			if j, dup := names[name]; dup {
				return nil, fail("pod name %q is also made by pods[%d] %q", name, j, file.Pods[j].Name)
			}
			names[name] = i
			shape.name = name
			pods = append(pods, Pod{Pod: newPod(&shape), GPUMilli: milli, CreatedAt: created, DeletedAt: deleted, ScheduledAt: NoTime, Node: e.Node,
				Gang: gangs[e.Labels[v1alpha1.PodGroupLabel]]})
		}
	}
	return pods, nil
}

// gangsOf checks the podGroups entries and indexes them by name.
func gangsOf(entries []PodGroupShape, source string) (map[string]*Gang, error) {
	gangs := make(map[string]*Gang, len(entries))
	for i, e := range entries {
		fail := func(format string, args ...any) error {
			return fmt.Errorf("%s: podGroups[%d] %q: %s", source, i, truncate(e.Name, 80), fmt.Sprintf(format, args...))
		}
		if msg := checkGroupName(e.Name); msg != "" {
			return nil, fail("%s", msg)
		}
		if e.MinMember < 1 {
			return nil, fail("minMember %d: want at least 1", e.MinMember)
		}
		if _, dup := gangs[e.Name]; dup {
			return nil, fail("named twice")
		}
		gangs[e.Name] = &Gang{Name: e.Name, MinMember: int(e.MinMember)}
	}
	return gangs, nil
}

// checkGroupName returns why name cannot name a PodGroup, which its members' label names, or "".
func checkGroupName(name string) string {
	if msg := checkName(name); msg != "" {
		return msg
	}
	if len(validation.IsValidLabelValue(name)) > 0 {
		return fmt.Sprintf("not a valid %s label value (at most 63 characters)", v1alpha1.PodGroupLabel)
	}
	return ""
}

func (e *PodShape) shape() (podShape, error) {
	var s podShape
	if e.CPU != "" {
		q, err := quantity("cpu", e.CPU, false)
		if err != nil {
			return s, err
		}
		s.cpu = &q
	}
	if e.Memory != "" {
		q, err := quantity("memory", e.Memory, false)
		if err != nil {
			return s, err
		}
		s.memory = &q
	}
	if e.GPUs != nil && e.GPUFraction != nil {
		return s, fmt.Errorf("gpus and gpuFraction are mutually exclusive")
	}
	if e.GPUs != nil {
		if *e.GPUs < 0 || *e.GPUs > MaxGPUsPerObject {
			return s, fmt.Errorf("gpus %d: want 0 to %d", *e.GPUs, MaxGPUsPerObject)
		}
		s.gpus = *e.GPUs
	}
	if e.GPUFraction != nil {
		milli, err := gpu.ParseFraction(*e.GPUFraction)
		if err != nil {
			return s, fmt.Errorf("gpuFraction: %v", err)
		}
		s.fracMilli = milli
	}
	if err := checkLabels("labels", e.Labels); err != nil {
		return s, err
	}
	s.labels = e.Labels
	for k := range e.Annotations {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			return s, fmt.Errorf("annotations: key %q: %s", truncate(k, 80), msgs[0])
		}
	}
	if _, ok := e.Annotations[gpu.FractionAnnotation]; ok && e.GPUFraction != nil {
		return s, fmt.Errorf("annotations: %s is set by gpuFraction", gpu.FractionAnnotation)
	}
	for j, t := range e.Tolerations {
		tol, err := t.toleration()
		if err != nil {
			return s, fmt.Errorf("tolerations[%d]: %v", j, err)
		}
		s.tolerations = append(s.tolerations, tol)
	}
	s.annotations = make(map[string]string, len(e.Annotations)+3)
	for k, v := range e.Annotations {
		s.annotations[k] = v
	}
	if len(e.Models) > 0 {
		if s.gpus == 0 && s.fracMilli == 0 {
			return s, fmt.Errorf("models without gpus or gpuFraction")
		}
		for j, m := range e.Models {
			if m == "" || strings.ContainsAny(m, "|,") || len(validation.IsValidLabelValue(m)) > 0 {
				return s, fmt.Errorf("models[%d] %q: want one GPU model, a valid label value", j, truncate(m, 80))
			}
		}
		if err := setAnnotation(s.annotations, gpu.ModelAnnotation, "models", strings.Join(e.Models, "|")); err != nil {
			return s, err
		}
	}
	for _, ic := range []struct {
		field, key string
		names      StringList
	}{
		{"interconnect", gpu.InterconnectAnnotation, e.Interconnect},
		{"preferredInterconnect", gpu.PreferredInterconnectAnnotation, e.PreferredInterconnect},
	} {
		if len(ic.names) == 0 {
			continue
		}
		for j, n := range ic.names {
			if n == "" || n != strings.ToLower(n) || len(validation.IsQualifiedName(gpu.InterconnectLabelPrefix+n)) > 0 {
				return s, fmt.Errorf("%s[%d] %q: want a lower-case interconnect name like infiniband", ic.field, j, truncate(n, 80))
			}
		}
		if err := setAnnotation(s.annotations, ic.key, ic.field, strings.Join(slices.Compact(slices.Sorted(slices.Values(ic.names))), ",")); err != nil {
			return s, err
		}
	}
	return s, nil
}

func (t *TolerationShape) toleration() (v1.Toleration, error) {
	tol := v1.Toleration{Key: t.Key, Operator: v1.TolerationOperator(t.Operator), Value: t.Value, Effect: v1.TaintEffect(t.Effect)}
	if t.Key != "" {
		if msgs := validation.IsQualifiedName(t.Key); len(msgs) > 0 {
			return tol, fmt.Errorf("key %q: %s", truncate(t.Key, 80), msgs[0])
		}
	}
	switch tol.Operator {
	case "", v1.TolerationOpEqual:
		tol.Operator = v1.TolerationOpEqual
		if t.Key == "" {
			return tol, fmt.Errorf("operator Equal needs a key")
		}
		if msgs := validation.IsValidLabelValue(t.Value); len(msgs) > 0 {
			return tol, fmt.Errorf("value %q: %s", truncate(t.Value, 80), msgs[0])
		}
	case v1.TolerationOpExists:
		if t.Value != "" {
			return tol, fmt.Errorf("operator Exists takes no value")
		}
	default:
		return tol, fmt.Errorf("operator %q: want Equal or Exists", t.Operator)
	}
	switch tol.Effect {
	case "", v1.TaintEffectNoSchedule, v1.TaintEffectPreferNoSchedule, v1.TaintEffectNoExecute:
	default:
		return tol, fmt.Errorf("effect %q: want NoSchedule, PreferNoSchedule, NoExecute or none", t.Effect)
	}
	return tol, nil
}

func setAnnotation(annotations map[string]string, key, field, value string) error {
	if _, ok := annotations[key]; ok {
		return fmt.Errorf("annotations: %s is set by %s", key, field)
	}
	annotations[key] = value
	return nil
}

// quantity parses a non-negative Kubernetes quantity.
func quantity(field, s string, required bool) (resource.Quantity, error) {
	if s == "" {
		if required {
			return resource.Quantity{}, fmt.Errorf("%s is required", field)
		}
		return resource.Quantity{}, nil
	}
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return q, fmt.Errorf("%s %q: not a Kubernetes quantity (like 8, 500m, 64Gi)", field, truncate(s, 80))
	}
	if q.Sign() < 0 {
		return q, fmt.Errorf("%s %q is negative", field, s)
	}
	return q, nil
}

func checkLabels(field string, labels map[string]string) error {
	for k, v := range labels {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			return fmt.Errorf("%s: key %q: %s", field, truncate(k, 80), msgs[0])
		}
		if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
			return fmt.Errorf("%s[%s]: value %q: %s", field, k, truncate(v, 80), msgs[0])
		}
	}
	return nil
}

// expandNames is name alone without count, else name-0 .. name-(count-1).
func expandNames(name string, count *int64) ([]string, error) {
	if name == "" {
		return nil, fmt.Errorf("name is required")
	}
	if count == nil {
		return []string{name}, nil
	}
	n := *count
	if n < 0 {
		return nil, fmt.Errorf("count %d is negative", n)
	}
	if n > MaxObjects {
		return nil, fmt.Errorf("count %d: more than %d", n, MaxObjects)
	}
	names := make([]string, n)
	for i := range names {
		names[i] = name + "-" + strconv.Itoa(i)
	}
	return names, nil
}
