package integration

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gpu-scheduler/gpu-scheduler/test/integration/util"
)

type manifestObject struct {
	file string
	obj  *unstructured.Unstructured
}

func (m manifestObject) String() string {
	return m.file + ": " + m.obj.GetKind() + " " + m.obj.GetName()
}

// TestManifestsServerSideDryRun: every object under manifests/ (examples included) is accepted by the
// real apiserver in a server-side dry run (validation, defaulting, admission) with strict field
// validation. CRDs are created for real first, so objects of their kinds could be checked too, and so
// are the namespaces, since a dry run in a missing namespace fails.
func TestManifestsServerSideDryRun(t *testing.T) {
	env := util.NewEnv(t, util.EnvOptions{})
	var crds, namespaces, rest []manifestObject
	root := env.Path("manifests")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return err
		}
		rel, _ := filepath.Rel(env.RepoRoot, path)
		for _, obj := range env.ReadObjects(rel) {
			m := manifestObject{file: rel, obj: obj}
			switch {
			case strings.HasPrefix(obj.GetAPIVersion(), "kustomize.config.k8s.io/"):
				// Read by kustomize, not an API object.
			case obj.GetKind() == "CustomResourceDefinition":
				crds = append(crds, m)
			case obj.GetKind() == "Namespace":
				namespaces = append(namespaces, m)
			default:
				rest = append(rest, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(crds) == 0 || len(namespaces) == 0 || len(rest) < 10 {
		t.Fatalf("found %d CRDs, %d namespaces, %d other objects under manifests/: too few", len(crds), len(namespaces), len(rest))
	}

	a := env.NewApplier()
	for _, group := range [][]manifestObject{crds, namespaces} {
		for _, m := range group {
			if err := a.Create(m.obj, "default", true); err != nil {
				t.Errorf("%v: dry run rejected: %v", m, err)
			}
			if err := a.Create(m.obj, "default", false); err != nil {
				t.Fatalf("%v: create: %v", m, err)
			}
		}
	}
	for _, m := range crds {
		a.WaitCRDEstablished(m.obj.GetName(), 30*time.Second)
	}
	for _, m := range rest {
		if err := a.Create(m.obj, "default", true); err != nil {
			t.Errorf("%v: dry run rejected: %v", m, err)
		} else {
			t.Logf("%v: accepted", m)
		}
	}
	// A dry run persists nothing.
	if pods := env.ListPods("default"); len(pods) != 0 {
		t.Errorf("%d pods in default after dry runs, want 0", len(pods))
	}
}
