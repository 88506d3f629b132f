//go:build !unix

package controlplane

import (
	"os"
	"syscall"
)

type signal int

const (
	sigTerm signal = iota
	sigKill
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

// signalGroup kills the process: without process groups and SIGTERM there is no gentler way.
func signalGroup(p *os.Process, _ signal) error { return p.Kill() }
