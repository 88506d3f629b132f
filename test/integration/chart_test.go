package integration

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/plugintest"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim/trace"
	"github.com/gpu-scheduler/gpu-scheduler/test/integration/util"
	"github.com/gpu-scheduler/gpu-scheduler/test/util/controlplane"
)

const chartDir = "charts/gpu-scheduler"

// helmLabels are the labels the chart adds to every object (Helm's conventions) and kustomize adds
// to manifests/' (commonLabels): neither is part of what the two must agree on.
var helmLabels = []string{"app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/managed-by", "helm.sh/chart", "app.kubernetes.io/part-of"}

// helm runs bin/helm (make tools builds it) in the repository root.
func helm(t *testing.T, env *util.Env, args ...string) string {
	t.Helper()
	stdout, stderr, err := runHelm(t, env, args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return stdout
}

func runHelm(t *testing.T, env *util.Env, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	bin, err := controlplane.DefaultBinDir()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(bin, "helm")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s: %v (make tools builds it)", path, err)
	}
	cmd := exec.CommandContext(env.Ctx, path, args...)
	cmd.Dir = env.RepoRoot
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// decodeObjects decodes helm's output.
func decodeObjects(t *testing.T, text string) []*unstructured.Unstructured {
	t.Helper()
	out, err := util.DecodeObjects([]byte(text))
	if err != nil {
		t.Fatalf("decoding helm's output: %v", err)
	}
	return out
}

// comparable drops what only one of chart and manifests/ has: Helm's and kustomize's labels, and
// the Pod template's config checksum. A ConfigMap's scheduler config is compared parsed: the chart
// writes it from values (sorted keys, no comments).
func comparable(t *testing.T, obj *unstructured.Unstructured) map[string]any {
	t.Helper()
	o := obj.DeepCopy()
	labels := o.GetLabels()
	for _, l := range helmLabels {
		delete(labels, l)
	}
	o.SetLabels(labels)
	if o.GetKind() == "Deployment" {
		unstructured.RemoveNestedField(o.Object, "spec", "template", "metadata", "annotations", "checksum/config")
		if a, _, _ := unstructured.NestedMap(o.Object, "spec", "template", "metadata", "annotations"); len(a) == 0 {
			unstructured.RemoveNestedField(o.Object, "spec", "template", "metadata", "annotations")
		}
	}
	if o.GetKind() == "ConfigMap" {
		text, _, _ := unstructured.NestedString(o.Object, "data", "scheduler-config.yaml")
		var cfg map[string]any
		if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
			t.Fatalf("ConfigMap %s: scheduler-config.yaml: %v", o.GetName(), err)
		}
		o.Object["data"] = map[string]any{"scheduler-config.yaml": cfg}
	}
	return o.Object
}

func objectKey(o *unstructured.Unstructured) string {
	return o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
}

// TestHelmChart lints and renders charts/gpu-scheduler with bin/helm. With its defaults the chart
// is manifests/ (every object of its kustomization but the Namespace, which `helm install
// --create-namespace` makes), and the apiserver accepts every rendered object in a server-side dry
// run. Values change the scheduler name, a Score weight and a plugin arg in the configuration the
// scheduler loads, and an unknown plugin's weight is refused.
func TestHelmChart(t *testing.T) {
	env := util.NewEnv(t, util.EnvOptions{})
	helm(t, env, "lint", "--strict", chartDir)

	const ns = "gpu-scheduler"
	rendered := decodeObjects(t, helm(t, env, "template", "gpu-scheduler", chartDir, "--namespace", ns, "--include-crds"))
	var kustomization struct {
		Resources []string `json:"resources"`
	}
	data, err := os.ReadFile(env.Path("manifests/kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &kustomization); err != nil {
		t.Fatal(err)
	}
	want := map[string]*unstructured.Unstructured{}
	for _, f := range kustomization.Resources {
		for _, obj := range env.ReadObjects(filepath.Join("manifests", f)) {
			if obj.GetKind() != "Namespace" {
				want[objectKey(obj)] = obj
			}
		}
	}
	got := map[string]*unstructured.Unstructured{}
	for _, obj := range rendered {
		got[objectKey(obj)] = obj
	}
	for key, w := range want {
		g, ok := got[key]
		if !ok {
			t.Errorf("the chart does not render manifests/' %s", key)
			continue
		}
		if gc, wc := comparable(t, g), comparable(t, w); !reflect.DeepEqual(gc, wc) {
			gy, _ := yaml.Marshal(gc)
			wy, _ := yaml.Marshal(wc)
			t.Errorf("%s differs from manifests/:\nchart:\n%s\nmanifests/:\n%s", key, gy, wy)
		}
	}
	for key := range got {
		if _, ok := want[key]; !ok {
			t.Errorf("the chart renders %s, which manifests/ does not hold", key)
		}
	}

	// The apiserver takes the chart as rendered, defaults and the optional metrics Service.
	if _, err := env.Client.CoreV1().Namespaces().Create(env.Ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	applier := env.NewApplier()
	withService := decodeObjects(t, helm(t, env, "template", "gpu-scheduler", chartDir, "--namespace", ns, "--include-crds", "--set", "metrics.service.enabled=true"))
	if len(withService) != len(rendered)+1 {
		t.Errorf("metrics.service.enabled=true renders %d objects, want %d", len(withService), len(rendered)+1)
	}
	for _, obj := range withService {
		if err := applier.Create(obj, ns, true); err != nil {
			t.Errorf("server-side dry run of %s: %v", objectKey(obj), err)
		}
	}

	// Values reach the configuration, which decodes and builds as kube-scheduler's would.
	custom := decodeObjects(t, helm(t, env, "template", "gpu", chartDir, "--namespace", "team-a", "--set",
		"schedulerName=gpu-batch,pluginWeights.GPUFragmentation=10,pluginArgs.GPUFragmentation.windowSize=500"))
	var cfgText string
	for _, obj := range custom {
		if obj.GetKind() == "ConfigMap" {
			cfgText, _, _ = unstructured.NestedString(obj.Object, "data", "scheduler-config.yaml")
		}
	}
	path := filepath.Join(t.TempDir(), "scheduler-config.yaml")
	if err := os.WriteFile(path, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	profiles, err := sim.LoadProfiles(path)
	if err != nil {
		t.Fatalf("the rendered scheduler config: %v\n%s", err, cfgText)
	}
	if len(profiles) != 1 || profiles[0].Name != "gpu-batch" {
		t.Fatalf("profiles %+v, want one named gpu-batch", profiles)
	}
	p := profiles[0].Config
	weight := int32(-1)
	for _, pl := range p.Plugins.MultiPoint.Enabled {
		if pl.Name == "GPUFragmentation" {
			weight = pl.Weight
		}
	}
	var windowSize int32
	for _, pc := range p.PluginConfig {
		if args, ok := pc.Args.(*config.GPUFragmentationArgs); ok {
			windowSize = args.WindowSize
		}
	}
	if weight != 10 || windowSize != 500 {
		t.Errorf("GPUFragmentation weight %d, windowSize %d; want 10 and 500", weight, windowSize)
	}
	if !strings.Contains(cfgText, "resourceNamespace: team-a") {
		t.Errorf("the Lease is not in the release's namespace:\n%s", cfgText)
	}
	if _, stderr, err := runHelm(t, env, "template", "gpu", chartDir, "--set", "pluginWeights.NoSuchPlugin=1"); err == nil ||
		!strings.Contains(stderr, "pluginWeights.NoSuchPlugin: no such plugin in the profile's multiPoint list") {
		t.Errorf("a weight for a plugin the profile lacks: %v, %s; want helm to refuse it, naming the value", err, stderr)
	}
	// values.schema.json: a misspelt or mistyped value fails the render, naming it.
	for _, bad := range []struct{ set, want string }{
		{"replica=3", "additional properties 'replica' not allowed"},
		{"replicas=two", "at '/replicas': got string, want integer"},
		{"metrics.service.prot=443", "additional properties 'prot' not allowed"},
	} {
		if _, stderr, err := runHelm(t, env, "template", "gpu", chartDir, "--set", bad.set); err == nil || !strings.Contains(stderr, bad.want) {
			t.Errorf("--set %s: %v, %s; want helm to refuse it: %q", bad.set, err, stderr, bad.want)
		}
	}
	ctx, cancel := context.WithCancel(env.Ctx)
	defer cancel()
	if _, err := sim.New(ctx, profiles[0], trace.Cluster{Nodes: []*v1.Node{plugintest.GPUNode("n", "8", "32Gi", 1)}}, 1); err != nil {
		t.Errorf("building the rendered profile's plugins: %v", err)
	}
}
