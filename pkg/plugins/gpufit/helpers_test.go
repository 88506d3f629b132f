package gpufit

import "k8s.io/apimachinery/pkg/api/resource"

func resourceQty(s string) resource.Quantity { return resource.MustParse(s) }
