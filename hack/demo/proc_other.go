//go:build !unix

package main

import (
	"os"
	"syscall"
)

type signalKind int

const (
	sigTerm signalKind = iota
	sigKill
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

// signalGroup kills the process: without process groups and SIGTERM there is no gentler way.
func signalGroup(p *os.Process, _ signalKind) error { return p.Kill() }
