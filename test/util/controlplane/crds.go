package controlplane

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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// InstallCRDs creates the CustomResourceDefinitions in files (YAML, several documents per file
// allowed; one that exists already is kept) and waits until each is established. It returns their
// names. The shipped profile's Coscheduling watches PodGroups: without that CRD the scheduler waits
// forever for its informer to sync and schedules nothing.
func (c *ControlPlane) InstallCRDs(ctx context.Context, files ...string) ([]string, error) {
	cs, err := apiextensionsclient.NewForConfig(c.Config)
	if err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	var names []string
	for _, file := range files {
		crds, err := readCRDs(file)
		if err != nil {
			return nil, err
		}
		for _, crd := range crds {
			if _, err := cs.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return nil, fmt.Errorf("controlplane: creating CRD %s from %s: %w", crd.Name, file, err)
			}
			names = append(names, crd.Name)
		}
	}
	pending := ""
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		for _, name := range names {
			pending = name
			crd, err := cs.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
			if err != nil || !established(crd) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("controlplane: waiting for CRD %s to be established: %w", pending, err)
	}
	return names, nil
}

func readCRDs(file string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := dec.Decode(crd); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("controlplane: %s: %w", file, err)
		}
		if crd.Kind == "" && crd.Name == "" {
			continue // an empty document
		}
		if crd.Kind != "CustomResourceDefinition" || crd.Name == "" {
			return nil, fmt.Errorf("controlplane: %s: a %q named %q is not a CustomResourceDefinition", file, crd.Kind, crd.Name)
		}
		crds = append(crds, crd)
	}
	if len(crds) == 0 {
		return nil, fmt.Errorf("controlplane: %s holds no CustomResourceDefinition", file)
	}
	return crds, nil
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}
