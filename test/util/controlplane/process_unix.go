//go:build unix

package controlplane

import (
	"os"
	"syscall"
)

// signal is what Stop and Kill send.
type signal = syscall.Signal

const (
	sigTerm = syscall.SIGTERM
	sigKill = syscall.SIGKILL
)

// signalGroup signals the child's whole process group.
func signalGroup(p *os.Process, sig signal) error {
	return syscall.Kill(-p.Pid, sig)
}
