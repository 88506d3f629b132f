package controlplane

import "syscall"

// sysProcAttr puts the child in its own process group and has the kernel kill it if this process dies
// (even by SIGKILL or a test timeout), so no control-plane process outlives the process that started it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
