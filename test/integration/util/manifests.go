package util

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
)

// ReadObjects decodes every non-empty document of a YAML file, relative to the repository root.
func (e *Env) ReadObjects(rel string) []*unstructured.Unstructured {
	e.T.Helper()
	data, err := os.ReadFile(e.Path(rel))
	if err != nil {
		e.T.Fatal(err)
	}
	out, err := DecodeObjects(data)
	if err != nil {
		e.T.Fatalf("decoding %s: %v", rel, err)
	}
	return out
}

// DecodeObjects decodes every non-empty document of a YAML (or JSON) stream.
func DecodeObjects(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(obj) > 0 {
			out = append(out, &unstructured.Unstructured{Object: obj})
		}
	}
}

// Applier creates objects of any kind through the dynamic client.
type Applier struct {
	env    *Env
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

// NewApplier returns an Applier acting as the admin.
func (e *Env) NewApplier() *Applier {
	e.T.Helper()
	dyn, err := dynamic.NewForConfig(e.CP.Config)
	if err != nil {
		e.T.Fatal(err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(e.CP.Config)
	if err != nil {
		e.T.Fatal(err)
	}
	return &Applier{env: e, dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))}
}

// ResetMapper forgets the discovered API resources, e.g. after a CRD is established.
func (a *Applier) ResetMapper() { a.mapper.Reset() }

// Create creates obj (in its namespace, else defaultNamespace if it is namespaced); dryRun makes it a
// server-side dry run. It returns the API error, if any.
func (a *Applier) Create(obj *unstructured.Unstructured, defaultNamespace string, dryRun bool) error {
	gvk := obj.GroupVersionKind()
	mapping, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("mapping %v: %w", gvk, err)
	}
	opts := metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	var ri dynamic.ResourceInterface = a.dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := obj.GetNamespace()
		if ns == "" {
			ns = defaultNamespace
		}
		ri = a.dyn.Resource(mapping.Resource).Namespace(ns)
	}
	ctx, cancel := context.WithTimeout(a.env.Ctx, 30*time.Second)
	defer cancel()
	_, err = ri.Create(ctx, obj.DeepCopy(), opts)
	return err
}

// MustCreate creates every object of the files for real, failing the test on an error.
func (a *Applier) MustCreate(files ...string) {
	a.env.T.Helper()
	for _, f := range files {
		for _, obj := range a.env.ReadObjects(f) {
			if err := a.Create(obj, "default", false); err != nil {
				a.env.T.Fatalf("creating %s %s from %s: %v", obj.GetKind(), obj.GetName(), f, err)
			}
		}
	}
}

// WaitCRDEstablished waits for the CRD's Established condition and resets the mapper.
func (a *Applier) WaitCRDEstablished(name string, timeout time.Duration) {
	a.env.T.Helper()
	cs, err := apiextensionsclient.NewForConfig(a.env.CP.Config)
	if err != nil {
		a.env.T.Fatal(err)
	}
	a.env.Wait("CRD "+name+" established", timeout, func(ctx context.Context) (bool, error) {
		crd, err := cs.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range crd.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	}, nil)
	a.ResetMapper()
}
