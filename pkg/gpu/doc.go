// Package gpu is the single source of truth for what a Pod asks of GPUs and what a Node offers:
// the resource name, the annotation and label conventions, and the parsers for them. Every plugin
// and the simulator read Pods and Nodes through this package, so a convention changes in one place.
package gpu
