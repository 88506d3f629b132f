package controlplane

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// killWait bounds how long Stop and Kill wait for a process to be gone after SIGKILL.
const killWait = 30 * time.Second

// ProcessOptions says what StartProcess runs.
type ProcessOptions struct {
	// Name names the process in errors and logs.
	Name string
	// Path is the binary; Args its arguments.
	Path string
	Args []string
	// Dir is the working directory (default: this process's).
	Dir string
	// Env is added to this process's environment.
	Env []string
	// LogPath receives stdout and stderr; it is created or truncated.
	LogPath string
	// OnExit, if set, is called (from another goroutine) when the process exits before Stop or Kill
	// was called, with the error Err returns.
	OnExit func(p *Process, err error)
}

// Process is a child process (kwok, gpu-scheduler) with its output in a log file. It runs in its own
// process group, so a Ctrl-C in the terminal reaches only its parent, which stops it in order; on
// Linux it also gets SIGKILL if its parent dies.
type Process struct {
	Name    string
	LogPath string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // exit status, valid after done

	mu       sync.Mutex
	stopping bool
}

// StartProcess starts o.Path with o.Args.
func StartProcess(o ProcessOptions) (*Process, error) {
	logFile, err := os.Create(o.LogPath)
	if err != nil {
		return nil, fmt.Errorf("%s: creating log file: %w", o.Name, err)
	}
	cmd := exec.Command(o.Path, o.Args...)
	cmd.Dir = o.Dir
	if len(o.Env) > 0 {
		cmd.Env = append(os.Environ(), o.Env...)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("%s: starting %s: %w", o.Name, o.Path, err)
	}
	p := &Process{Name: o.Name, LogPath: o.LogPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
		if o.OnExit != nil && !p.stopRequested() {
			o.OnExit(p, p.Err())
		}
	}()
	return p, nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is nil while the process runs or after Stop or Kill; else an *ExitError saying how it ended,
// with the end of its log.
func (p *Process) Err() error {
	if !p.Exited() || p.stopRequested() {
		return nil
	}
	err := p.err
	if err == nil {
		err = errors.New("exit status 0")
	}
	return &ExitError{Name: p.Name, LogPath: p.LogPath, Tail: p.Tail(25), Err: err}
}

func (p *Process) stopRequested() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopping
}

// Stop sends SIGTERM to the process group, waits up to grace, then sends SIGKILL.
func (p *Process) Stop(grace time.Duration) error {
	if p.signal(sigTerm, grace) == nil {
		return nil
	}
	if err := p.Kill(); err != nil {
		return err
	}
	return fmt.Errorf("%s (pid %d) did not stop within %s: killed", p.Name, p.Pid(), grace)
}

// Kill sends SIGKILL to the process group and waits until the process is gone.
func (p *Process) Kill() error { return p.signal(sigKill, killWait) }

func (p *Process) signal(sig signal, wait time.Duration) error {
	p.mu.Lock()
	p.stopping = true
	p.mu.Unlock()
	if p.Exited() {
		return nil
	}
	_ = signalGroup(p.cmd.Process, sig)
	select {
	case <-p.done:
		return nil
	case <-time.After(wait):
		return fmt.Errorf("%s (pid %d) still running %s after %v", p.Name, p.Pid(), wait, sig)
	}
}

// Logs returns the log so far.
func (p *Process) Logs() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

// Tail returns the last n lines of the log, indented.
func (p *Process) Tail(n int) string { return TailFile(p.LogPath, n) }

// TailFile returns the last n lines of the file at path, indented.
func TailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

// ExitError is a process that exited on its own, with the end of its log.
type ExitError struct {
	Name, LogPath, Tail string
	Err                 error
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("%s exited unexpectedly (%v); last lines of %s:\n%s", e.Name, e.Err, e.LogPath, e.Tail)
}

func (e *ExitError) Unwrap() error { return e.Err }
