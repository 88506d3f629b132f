package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// proc is one child process (etcd, kube-apiserver, kwok, gpu-scheduler) with its output in a log
// file. Children run in their own process group, so a Ctrl-C in the terminal reaches only the demo,
// which then stops them in order; on Linux they also get SIGKILL if the demo itself dies.
type proc struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	err     error         // exit status, valid after done

	mu       sync.Mutex
	stopping bool
}

// startProc starts bin with args in dir, output to logDir/<name>.log. onExit is called (from another
// goroutine) if the process exits before stop was called.
func startProc(name, bin, dir, logDir string, args []string, onExit func(p *proc, err error)) (*proc, error) {
	logPath := filepath.Join(logDir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s: creating log file: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("%s: starting %s: %w", name, bin, err)
	}
	p := &proc{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
		p.mu.Lock()
		stopping := p.stopping
		p.mu.Unlock()
		if !stopping && onExit != nil {
			onExit(p, p.err)
		}
	}()
	return p, nil
}

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, waits up to grace, then sends SIGKILL.
func (p *proc) stop(grace time.Duration) error {
	p.mu.Lock()
	p.stopping = true
	p.mu.Unlock()
	if p.exited() {
		return nil
	}
	_ = signalGroup(p.cmd.Process, sigTerm)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = signalGroup(p.cmd.Process, sigKill)
	select {
	case <-p.done:
		return fmt.Errorf("%s (pid %d) did not stop within %s: killed", p.name, p.cmd.Process.Pid, grace)
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) survived SIGKILL", p.name, p.cmd.Process.Pid)
	}
}

// tail returns the last n lines of the process's log.
func (p *proc) tail(n int) string {
	return tailFile(p.logPath, n)
}

func tailFile(path string, n int) string {
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

// procExitError is a process that exited on its own, with the end of its log.
type procExitError struct {
	name, logPath, tail string
	err                 error
}

func (e *procExitError) Error() string {
	return fmt.Sprintf("%s exited unexpectedly (%v); last lines of %s:\n%s", e.name, e.err, e.logPath, e.tail)
}

func exitError(p *proc, err error) error {
	if err == nil {
		err = errors.New("exit status 0")
	}
	return &procExitError{name: p.name, logPath: p.logPath, tail: p.tail(25), err: err}
}

// waitFor polls cond every interval until it returns true, returns an error, or ctx ends; what
// names the condition in the error.
func waitFor(ctx context.Context, what string, interval time.Duration, cond func(context.Context) (bool, error)) error {
	var lastErr error
	for {
		ok, err := cond(ctx)
		if err != nil {
			lastErr = err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			cause := context.Cause(ctx)
			if pe := (*procExitError)(nil); errors.As(cause, &pe) {
				return cause // says itself what went wrong
			}
			if lastErr != nil && !errors.Is(cause, context.Canceled) {
				return fmt.Errorf("waiting for %s: %w (last error: %v)", what, cause, lastErr)
			}
			return fmt.Errorf("waiting for %s: %w", what, cause)
		case <-time.After(interval):
		}
	}
}
