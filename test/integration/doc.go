// Package integration runs the real bin/gpu-scheduler against a real etcd + kube-apiserver (one
// control plane per test, see test/util/controlplane) and checks what it writes to the API: where
// Pods are bound, the FailedScheduling events of those it cannot place, the GPU index of shared GPUs,
// leader election and RBAC. No kubelet runs, so bound Pods stay Pending; the tests assert
// spec.nodeName.
//
// Build first: `make build tools`. Without the binaries the tests skip, unless
// GPU_SCHED_REQUIRE_CONTROLPLANE is set (as `make test` does). GPU_SCHED_IT_LOG_DIR=<dir> keeps each
// test's scheduler logs and configs under <dir>/<test name>.
package integration
