package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
)

// installCRDs creates the CRDs of manifests/crds/ (the PodGroup CRD Coscheduling watches: without
// it the scheduler's informers never sync) and waits until they are served.
func (d *demo) installCRDs(ctx context.Context, cfg *rest.Config) error {
	files, err := filepath.Glob(filepath.Join(d.opts.root, "manifests", "crds", "*.yaml"))
	if err != nil || len(files) == 0 {
		return err
	}
	sort.Strings(files)
	scheme := runtime.NewScheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return err
	}
	decoder := serializer.NewCodecFactory(scheme).UniversalDeserializer()
	client, err := apiextensionsclient.NewForConfig(cfg)
	if err != nil {
		return err
	}
	var names []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(d.opts.root, f)
		docs, err := splitYAML(data, rel)
		if err != nil {
			return err
		}
		for _, doc := range docs {
			obj, _, err := decoder.Decode(doc, nil, nil)
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			crd, ok := obj.(*apiextensionsv1.CustomResourceDefinition)
			if !ok {
				return fmt.Errorf("%s: %T is not a CustomResourceDefinition", rel, obj)
			}
			if _, err := client.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("creating CRD %s from %s: %w", crd.Name, rel, err)
			}
			names = append(names, crd.Name)
		}
	}
	err = waitFor(ctx, fmt.Sprintf("CRDs %v to be established", names), 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		for _, n := range names {
			crd, err := client.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			established := false
			for _, c := range crd.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					established = true
				}
			}
			if !established {
				return false, nil
			}
		}
		return true, nil
	})
	if err == nil {
		d.logf("installed CRDs from manifests/crds: %v", names)
	}
	return err
}
