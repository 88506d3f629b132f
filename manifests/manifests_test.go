// Package manifests_test checks the install manifests in this directory: that every file
// parses, that kustomization.yaml lists exactly the installable files, that the scheduler
// Deployment and RBAC keep their security properties, that the embedded
// KubeSchedulerConfiguration decodes strictly and matches config/scheduler-config.yaml,
// and that the examples are valid Pods aimed at gpu-scheduler.
package manifests_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/klog/v2"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	schedscheme "k8s.io/kubernetes/pkg/scheduler/apis/config/scheme"
	schedvalidation "k8s.io/kubernetes/pkg/scheduler/apis/config/validation"
	"sigs.k8s.io/yaml"

	// Registers the scheduler-plugins argument types (CoschedulingArgs, ...) into the
	// kube-scheduler scheme, as cmd/gpu-scheduler does.
	_ "sigs.k8s.io/scheduler-plugins/apis/config/scheme"

	// Registers gpu-scheduler's own plugin args, so they decode strictly too.
	_ "github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config/scheme"
)

const (
	namespace      = "gpu-scheduler"
	schedulerName  = "gpu-scheduler"
	serviceAccount = "gpu-scheduler"
	configMapName  = "gpu-scheduler-config"
	configKey      = "scheduler-config.yaml"
	configMount    = "/etc/gpu-scheduler"
	image          = "ghcr.io/gpu-scheduler/gpu-scheduler:v0.2.0"
	nonRootID      = int64(65532)
	securePort     = 10259

	examplesDir   = "examples"
	kustomization = "kustomization.yaml"
	// localConfig is the KubeSchedulerConfiguration used for local runs; the ConfigMap's
	// profiles must be identical to it (hack/sync-manifests.sh keeps them in sync).
	localConfig = "../config/scheduler-config.yaml"
)

// doc is one YAML document of a manifest file.
type doc struct {
	file  string // slash-separated, relative to this directory
	index int    // position among the file's non-empty documents
	raw   []byte
	obj   map[string]any
}

func (d doc) String() string { return d.file + "#" + strconv.Itoa(d.index) }

func (d doc) kind() string       { s, _ := d.obj["kind"].(string); return s }
func (d doc) apiVersion() string { s, _ := d.obj["apiVersion"].(string); return s }

func (d doc) name() string {
	md, _ := d.obj["metadata"].(map[string]any)
	s, _ := md["name"].(string)
	return s
}

func (d doc) namespace() string {
	md, _ := d.obj["metadata"].(map[string]any)
	s, _ := md["namespace"].(string)
	return s
}

// into decodes the document strictly (unknown or duplicate fields are errors) into out.
func (d doc) into(t *testing.T, out any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(d.raw, out); err != nil {
		t.Fatalf("%s: decoding %s %q as %T: %v", d, d.kind(), d.name(), out, err)
	}
}

// yamlFiles returns every .yaml/.yml file under this directory, slash-separated and sorted.
func yamlFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			return nil
		}
		if ext := filepath.Ext(p); ext == ".yaml" || ext == ".yml" {
			files = append(files, filepath.ToSlash(p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatal("no YAML files found")
	}
	return files
}

// readDocs splits a file into its non-empty YAML documents.
func readDocs(t *testing.T, file string) []doc {
	t.Helper()
	data, err := os.ReadFile(filepath.FromSlash(file))
	if err != nil {
		t.Fatal(err)
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs []doc
	for {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: splitting YAML documents: %v", file, err)
		}
		var obj map[string]any
		if err := yaml.Unmarshal(raw, &obj); err != nil {
			t.Fatalf("%s: document %d: %v", file, len(docs), err)
		}
		if obj == nil { // only comments or whitespace
			continue
		}
		docs = append(docs, doc{file: file, index: len(docs), raw: raw, obj: obj})
	}
	if len(docs) == 0 {
		t.Fatalf("%s: no YAML documents", file)
	}
	return docs
}

func isExample(file string) bool { return strings.HasPrefix(file, examplesDir+"/") }

// allDocs returns the documents of every manifest except kustomization.yaml.
func allDocs(t *testing.T) []doc {
	t.Helper()
	var docs []doc
	for _, f := range yamlFiles(t) {
		if f == kustomization {
			continue
		}
		docs = append(docs, readDocs(t, f)...)
	}
	return docs
}

// installDocs returns the documents kubectl apply -k installs (everything outside examples/).
func installDocs(t *testing.T) []doc {
	t.Helper()
	var docs []doc
	for _, d := range allDocs(t) {
		if !isExample(d.file) {
			docs = append(docs, d)
		}
	}
	return docs
}

func findOne(t *testing.T, docs []doc, kind, name string) doc {
	t.Helper()
	var found []doc
	for _, d := range docs {
		if d.kind() == kind && d.name() == name {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one %s %q, found %d", kind, name, len(found))
	}
	return found[0]
}

func TestEveryDocumentIsAnObject(t *testing.T) {
	seen := map[string]string{}
	for _, d := range allDocs(t) {
		if d.apiVersion() == "" || d.kind() == "" || d.name() == "" {
			t.Errorf("%s: missing apiVersion, kind or metadata.name (got %q, %q, %q)", d, d.apiVersion(), d.kind(), d.name())
			continue
		}
		if isExample(d.file) {
			continue
		}
		key := d.apiVersion() + "/" + d.kind() + "/" + d.namespace() + "/" + d.name()
		if prev, dup := seen[key]; dup {
			t.Errorf("%s: duplicate of %s (%s)", d, prev, key)
		}
		seen[key] = d.String()
	}
}

// TestTypedDecoding decodes every document of a known kind strictly into its API type,
// so misspelt or misplaced fields fail here rather than at kubectl apply time.
func TestTypedDecoding(t *testing.T) {
	types := map[string]func() any{
		"v1/Namespace":                  func() any { return &corev1.Namespace{} },
		"v1/ServiceAccount":             func() any { return &corev1.ServiceAccount{} },
		"v1/ConfigMap":                  func() any { return &corev1.ConfigMap{} },
		"v1/ResourceQuota":              func() any { return &corev1.ResourceQuota{} },
		"v1/Pod":                        func() any { return &corev1.Pod{} },
		"apps/v1/Deployment":            func() any { return &appsv1.Deployment{} },
		"apps/v1/DaemonSet":             func() any { return &appsv1.DaemonSet{} },
		"policy/v1/PodDisruptionBudget": func() any { return &policyv1.PodDisruptionBudget{} },
		"rbac.authorization.k8s.io/v1/ClusterRole":        func() any { return &rbacv1.ClusterRole{} },
		"rbac.authorization.k8s.io/v1/ClusterRoleBinding": func() any { return &rbacv1.ClusterRoleBinding{} },
		"rbac.authorization.k8s.io/v1/Role":               func() any { return &rbacv1.Role{} },
		"rbac.authorization.k8s.io/v1/RoleBinding":        func() any { return &rbacv1.RoleBinding{} },
		"apiextensions.k8s.io/v1/CustomResourceDefinition": func() any {
			return &apiextensionsv1.CustomResourceDefinition{}
		},
	}
	for _, d := range allDocs(t) {
		newObj, ok := types[d.apiVersion()+"/"+d.kind()]
		if !ok {
			t.Errorf("%s: %s %s has no typed check; add it to TestTypedDecoding", d, d.apiVersion(), d.kind())
			continue
		}
		d.into(t, newObj())
	}
}

func TestKustomizationListsEveryFile(t *testing.T) {
	docs := readDocs(t, kustomization)
	if len(docs) != 1 {
		t.Fatalf("%s: want one document, got %d", kustomization, len(docs))
	}
	var k struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Namespace  string   `json:"namespace"`
		Resources  []string `json:"resources"`
	}
	// Not strict: kustomize has many fields we do not model.
	if err := yaml.Unmarshal(docs[0].raw, &k); err != nil {
		t.Fatal(err)
	}
	if k.Kind != "Kustomization" || !strings.HasPrefix(k.APIVersion, "kustomize.config.k8s.io/") {
		t.Errorf("%s: kind/apiVersion = %q/%q, want Kustomization/kustomize.config.k8s.io/*", kustomization, k.Kind, k.APIVersion)
	}
	if k.Namespace != namespace {
		t.Errorf("%s: namespace = %q, want %q", kustomization, k.Namespace, namespace)
	}

	listed := map[string]bool{}
	for _, r := range k.Resources {
		clean := path.Clean(r)
		if clean != r || path.IsAbs(r) || strings.HasPrefix(clean, "../") || strings.Contains(r, "://") {
			t.Errorf("%s: resource %q must be a clean relative path inside manifests/", kustomization, r)
		}
		if listed[clean] {
			t.Errorf("%s: resource %q listed twice", kustomization, r)
		}
		listed[clean] = true
		if isExample(clean) {
			t.Errorf("%s: %q: examples must not be installed", kustomization, r)
		}
		if st, err := os.Stat(filepath.FromSlash(clean)); err != nil || st.IsDir() {
			t.Errorf("%s: resource %q is not a file in manifests/", kustomization, r)
		}
	}
	for _, f := range yamlFiles(t) {
		if f == kustomization || isExample(f) {
			continue
		}
		if !listed[f] {
			t.Errorf("%s is not listed in %s resources (every manifest outside examples/ must be installed)", f, kustomization)
		}
	}
}

func TestInstalledObjectsAreInOurNamespace(t *testing.T) {
	clusterScoped := map[string]bool{
		"Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true, "CustomResourceDefinition": true,
	}
	for _, d := range installDocs(t) {
		switch {
		case clusterScoped[d.kind()] && d.namespace() != "":
			t.Errorf("%s: cluster-scoped %s %q has metadata.namespace %q", d, d.kind(), d.name(), d.namespace())
		case !clusterScoped[d.kind()] && d.namespace() != namespace:
			t.Errorf("%s: %s %q: metadata.namespace = %q, want %q", d, d.kind(), d.name(), d.namespace(), namespace)
		}
	}
	findOne(t, installDocs(t), "Namespace", namespace)
	findOne(t, installDocs(t), "ServiceAccount", serviceAccount)
	crd := findOne(t, installDocs(t), "CustomResourceDefinition", "podgroups.scheduling.x-k8s.io")
	var c apiextensionsv1.CustomResourceDefinition
	crd.into(t, &c)
	if c.Spec.Group != "scheduling.x-k8s.io" || len(c.Spec.Versions) == 0 || c.Spec.Versions[0].Name != "v1alpha1" {
		t.Errorf("PodGroup CRD: group %q versions %v, want scheduling.x-k8s.io v1alpha1", c.Spec.Group, c.Spec.Versions)
	}
}

func TestDeployment(t *testing.T) {
	docs := installDocs(t)
	var dep appsv1.Deployment
	findOne(t, docs, "Deployment", "gpu-scheduler").into(t, &dep)
	spec := dep.Spec.Template.Spec

	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
		t.Errorf("replicas = %v, want 2", dep.Spec.Replicas)
	}
	if spec.ServiceAccountName != serviceAccount {
		t.Errorf("serviceAccountName = %q, want %q", spec.ServiceAccountName, serviceAccount)
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		t.Error("pod must not use host namespaces")
	}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			t.Errorf("volume %q: hostPath not allowed", v.Name)
		}
	}

	psc := spec.SecurityContext
	if psc == nil {
		t.Fatal("pod securityContext missing")
	}
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("pod securityContext.runAsNonRoot must be true")
	}
	if psc.RunAsUser == nil || *psc.RunAsUser != nonRootID || psc.RunAsGroup == nil || *psc.RunAsGroup != nonRootID {
		t.Errorf("pod securityContext runAsUser/runAsGroup must be %d", nonRootID)
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod securityContext.seccompProfile must be RuntimeDefault")
	}

	if a := spec.Affinity; a == nil || a.PodAntiAffinity == nil ||
		len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 ||
		a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.TopologyKey != "kubernetes.io/hostname" {
		t.Error("want a preferred podAntiAffinity spreading replicas over kubernetes.io/hostname")
	}

	if len(spec.Containers) != 1 {
		t.Fatalf("want 1 container, got %d", len(spec.Containers))
	}
	c := spec.Containers[0]
	if c.Image != image {
		t.Errorf("image = %q, want %q", c.Image, image)
	}
	for _, arg := range []string{"--config=" + configMount + "/" + configKey, "--v=2"} {
		if !slices.Contains(c.Args, arg) {
			t.Errorf("args %v: missing %q", c.Args, arg)
		}
	}

	csc := c.SecurityContext
	if csc == nil {
		t.Fatal("container securityContext missing")
	}
	if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem must be true")
	}
	if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation must be false")
	}
	if csc.Privileged != nil && *csc.Privileged {
		t.Error("container must not be privileged")
	}
	if csc.RunAsNonRoot != nil && !*csc.RunAsNonRoot {
		t.Error("container securityContext overrides runAsNonRoot to false")
	}
	if (csc.RunAsUser != nil && *csc.RunAsUser != nonRootID) || (csc.RunAsGroup != nil && *csc.RunAsGroup != nonRootID) {
		t.Errorf("container runAsUser/runAsGroup must be %d when set", nonRootID)
	}
	if csc.SeccompProfile != nil && csc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("container seccompProfile must be RuntimeDefault when set")
	}
	if csc.Capabilities == nil || !slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(csc.Capabilities.Add) != 0 {
		t.Errorf("capabilities must drop [ALL] and add nothing, got %+v", csc.Capabilities)
	}

	checkProbe := func(name string, p *corev1.Probe, wantPath string) {
		t.Helper()
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s: want an httpGet probe", name)
			return
		}
		g := p.HTTPGet
		if g.Path != wantPath || g.Port.IntValue() != securePort || g.Scheme != corev1.URISchemeHTTPS {
			t.Errorf("%s: got %s %s:%s, want HTTPS %s on %d", name, g.Scheme, g.Path, g.Port.String(), wantPath, securePort)
		}
	}
	checkProbe("livenessProbe", c.LivenessProbe, "/livez")
	checkProbe("readinessProbe", c.ReadinessProbe, "/readyz")

	wantReq := map[corev1.ResourceName]string{corev1.ResourceCPU: "100m", corev1.ResourceMemory: "256Mi"}
	for name, want := range wantReq {
		got, ok := c.Resources.Requests[name]
		if !ok || got.Cmp(resource.MustParse(want)) != 0 {
			t.Errorf("requests[%s] = %v, want %s", name, got.String(), want)
		}
	}
	if lim, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok || lim.Cmp(c.Resources.Requests[corev1.ResourceMemory]) < 0 {
		t.Errorf("want a memory limit >= the request, got %v", c.Resources.Limits)
	}

	// The config file must come from the ConfigMap, mounted read-only at configMount.
	var mounted bool
	for _, m := range c.VolumeMounts {
		if m.MountPath != configMount {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.ConfigMap != nil && v.ConfigMap.Name == configMapName && m.ReadOnly {
				mounted = true
			}
		}
	}
	if !mounted {
		t.Errorf("ConfigMap %s must be mounted read-only at %s", configMapName, configMount)
	}

	var pdb policyv1.PodDisruptionBudget
	findOne(t, docs, "PodDisruptionBudget", "gpu-scheduler").into(t, &pdb)
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PDB minAvailable = %v, want 1", pdb.Spec.MinAvailable)
	}
	if pdb.Spec.Selector == nil || !reflect.DeepEqual(pdb.Spec.Selector.MatchLabels, dep.Spec.Selector.MatchLabels) {
		t.Errorf("PDB selector %v must equal the Deployment selector %v", pdb.Spec.Selector, dep.Spec.Selector.MatchLabels)
	}
	for k, v := range dep.Spec.Selector.MatchLabels {
		if dep.Spec.Template.Labels[k] != v {
			t.Errorf("Deployment selector %s=%s does not match the Pod template labels", k, v)
		}
	}
}

func TestRBAC(t *testing.T) {
	checkRules := func(d doc, rules []rbacv1.PolicyRule) {
		t.Helper()
		for i, r := range rules {
			for _, list := range [][]string{r.APIGroups, r.Resources, r.Verbs, r.ResourceNames, r.NonResourceURLs} {
				for _, s := range list {
					if strings.Contains(s, "*") {
						t.Errorf("%s %s rule %d: wildcard %q", d.kind(), d.name(), i, s)
					}
				}
			}
			for _, res := range r.Resources {
				if res == "secrets" || strings.HasPrefix(res, "secrets/") {
					t.Errorf("%s %s rule %d grants access to secrets", d.kind(), d.name(), i)
				}
			}
			for _, v := range r.Verbs {
				if v == "escalate" || v == "bind" || v == "impersonate" {
					t.Errorf("%s %s rule %d: verb %q not allowed", d.kind(), d.name(), i, v)
				}
			}
		}
	}
	// Every binding must bind only our ServiceAccount, and only to these roles.
	allowedClusterRoles := map[string]bool{"system:kube-scheduler": true, "system:volume-scheduler": true, "gpu-scheduler": true}
	checkSubjects := func(d doc, subjects []rbacv1.Subject) {
		t.Helper()
		if len(subjects) == 0 {
			t.Errorf("%s %s: no subjects", d.kind(), d.name())
		}
		for _, s := range subjects {
			if s.Kind != rbacv1.ServiceAccountKind || s.Name != serviceAccount || s.Namespace != namespace {
				t.Errorf("%s %s: subject %+v, want ServiceAccount %s/%s", d.kind(), d.name(), s, namespace, serviceAccount)
			}
		}
	}
	localRoles := map[string]bool{}
	var sawKubeScheduler, sawVolumeScheduler bool
	docs := installDocs(t)
	for _, d := range docs {
		switch d.kind() {
		case "ClusterRole":
			var r rbacv1.ClusterRole
			d.into(t, &r)
			if r.AggregationRule != nil {
				t.Errorf("ClusterRole %s: aggregationRule not allowed", r.Name)
			}
			checkRules(d, r.Rules)
		case "Role":
			var r rbacv1.Role
			d.into(t, &r)
			checkRules(d, r.Rules)
			localRoles[r.Name] = true
		}
	}
	for _, d := range docs {
		switch d.kind() {
		case "ClusterRoleBinding":
			var b rbacv1.ClusterRoleBinding
			d.into(t, &b)
			if b.RoleRef.Kind != "ClusterRole" || !allowedClusterRoles[b.RoleRef.Name] {
				t.Errorf("ClusterRoleBinding %s binds %s %q; allowed: %v", b.Name, b.RoleRef.Kind, b.RoleRef.Name, allowedClusterRoles)
			}
			sawKubeScheduler = sawKubeScheduler || b.RoleRef.Name == "system:kube-scheduler"
			sawVolumeScheduler = sawVolumeScheduler || b.RoleRef.Name == "system:volume-scheduler"
			checkSubjects(d, b.Subjects)
		case "RoleBinding":
			var b rbacv1.RoleBinding
			d.into(t, &b)
			if b.RoleRef.Kind != "Role" || !localRoles[b.RoleRef.Name] {
				t.Errorf("RoleBinding %s must reference a Role defined here, got %s %q", b.Name, b.RoleRef.Kind, b.RoleRef.Name)
			}
			checkSubjects(d, b.Subjects)
		}
	}
	if !sawKubeScheduler || !sawVolumeScheduler {
		t.Error("the ServiceAccount must be bound to system:kube-scheduler and system:volume-scheduler")
	}
}

// schedulerConfigText returns the KubeSchedulerConfiguration embedded in the ConfigMap.
func schedulerConfigText(t *testing.T) []byte {
	t.Helper()
	var cm corev1.ConfigMap
	findOne(t, installDocs(t), "ConfigMap", configMapName).into(t, &cm)
	text, ok := cm.Data[configKey]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %s", configMapName, configKey)
	}
	return []byte(text)
}

func TestSchedulerConfigDecodesStrictly(t *testing.T) {
	obj, gvk, err := schedscheme.Codecs.UniversalDecoder().Decode(schedulerConfigText(t), nil, nil)
	if err != nil {
		t.Fatalf("decoding the embedded KubeSchedulerConfiguration (strict): %v", err)
	}
	if gvk.GroupVersion().String() != "kubescheduler.config.k8s.io/v1" {
		t.Errorf("config is %s, want kubescheduler.config.k8s.io/v1", gvk)
	}
	cfg, ok := obj.(*schedconfig.KubeSchedulerConfiguration)
	if !ok {
		t.Fatalf("decoded %T, want *config.KubeSchedulerConfiguration", obj)
	}
	if err := schedvalidation.ValidateKubeSchedulerConfiguration(cfg); err != nil {
		t.Errorf("validating the embedded KubeSchedulerConfiguration: %v", err)
	}

	le := cfg.LeaderElection
	if !le.LeaderElect || le.LeaseDuration.Duration != 15*time.Second || le.RenewDeadline.Duration != 10*time.Second ||
		le.RetryPeriod.Duration != 2*time.Second || le.ResourceLock != "leases" ||
		le.ResourceName != "gpu-scheduler" || le.ResourceNamespace != namespace {
		t.Errorf("leaderElection = %+v, want leases gpu-scheduler/gpu-scheduler 15s/10s/2s", le)
	}
	// In-cluster the scheduler uses its ServiceAccount, never a kubeconfig file.
	if cfg.ClientConnection.Kubeconfig != "" {
		t.Errorf("clientConnection.kubeconfig = %q, want empty", cfg.ClientConnection.Kubeconfig)
	}

	var names []string
	for _, p := range cfg.Profiles {
		names = append(names, p.SchedulerName)
		// Argument types of out-of-tree plugins that no imported scheme registers are
		// kept undecoded, so they are not checked strictly here.
		for _, pc := range p.PluginConfig {
			if _, unknown := pc.Args.(*runtime.Unknown); unknown {
				t.Logf("profile %s: args of plugin %s are not registered in the scheme and were not decoded strictly; "+
					"blank-import the gpu-scheduler args scheme in this test once it exists", p.SchedulerName, pc.Name)
			}
		}
	}
	if !slices.Equal(names, []string{schedulerName}) {
		t.Errorf("profiles = %v, want exactly [%s]", names, schedulerName)
	}
}

func TestSchedulerConfigProfilesMatchLocalConfig(t *testing.T) {
	local, err := os.ReadFile(filepath.FromSlash(localConfig))
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s does not exist yet; cannot compare profiles (run hack/sync-manifests.sh once it does)", localConfig)
	}
	if err != nil {
		t.Fatal(err)
	}
	profiles := func(what string, data []byte) any {
		t.Helper()
		var m map[string]any
		if err := yaml.Unmarshal(data, &m); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		p, ok := m["profiles"]
		if !ok {
			t.Fatalf("%s: no profiles section", what)
		}
		return p
	}
	want := profiles(localConfig, local)
	got := profiles("ConfigMap "+configMapName, schedulerConfigText(t))
	if !reflect.DeepEqual(got, want) {
		g, _ := yaml.Marshal(got)
		w, _ := yaml.Marshal(want)
		t.Errorf("ConfigMap profiles differ from %s; run hack/sync-manifests.sh\n--- ConfigMap:\n%s--- %s:\n%s", localConfig, g, localConfig, w)
	}
}

func TestExamples(t *testing.T) {
	var pods int
	for _, d := range allDocs(t) {
		if !isExample(d.file) {
			continue
		}
		switch d.kind() {
		case "Pod":
			pods++
			var p corev1.Pod
			d.into(t, &p)
			if p.Spec.SchedulerName != schedulerName {
				t.Errorf("%s: Pod %s has schedulerName %q, want %q", d, p.Name, p.Spec.SchedulerName, schedulerName)
			}
			if len(p.Spec.NodeSelector) != 0 || p.Spec.NodeName != "" {
				t.Errorf("%s: Pod %s pins nodes (nodeSelector/nodeName); let gpu-scheduler choose", d, p.Name)
			}
			if requestsGPU(p) && !toleratesGPUTaint(p) {
				t.Errorf("%s: GPU Pod %s must tolerate the nvidia.com/gpu NoSchedule taint", d, p.Name)
			}
		case "DaemonSet":
			var ds appsv1.DaemonSet
			d.into(t, &ds)
		default:
			t.Errorf("%s: unexpected example kind %s", d, d.kind())
		}
	}
	if pods == 0 {
		t.Error("no example Pods found")
	}
}

func requestsGPU(p corev1.Pod) bool {
	for _, c := range p.Spec.Containers {
		if _, ok := c.Resources.Limits["nvidia.com/gpu"]; ok {
			return true
		}
		if _, ok := c.Resources.Requests["nvidia.com/gpu"]; ok {
			return true
		}
	}
	return false
}

func toleratesGPUTaint(p corev1.Pod) bool {
	taint := corev1.Taint{Key: "nvidia.com/gpu", Effect: corev1.TaintEffectNoSchedule}
	for _, tol := range p.Spec.Tolerations {
		if tol.ToleratesTaint(klog.Background(), &taint, false) {
			return true
		}
	}
	return false
}
