// sbx-reaper runs one command (runsc create or runsc restore) as a child subreaper and reaps, the
// moment they exit, the processes that command leaves running (the gVisor sandbox and its gofer).
// Without it they are orphaned to the host's init, which on some hosts reaps them seconds late;
// `runsc delete` waits until the sandbox's pid is gone, so a late reap makes every stop slow.
//
// Usage: sbx-reaper <command> [args...]. The command's exit is written to fd 3 as "exit <code>\n"
// (or "signal <number>\n"), then fd 3 is closed and sbx-reaper stays until it has no child left. A
// SIGTERM kills the command (not what it started), as a timeout in the caller did before.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

const prSetChildSubreaper = 36

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: sbx-reaper <command> [args...]")
		os.Exit(2)
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		fmt.Fprintf(os.Stderr, "sbx-reaper: prctl(PR_SET_CHILD_SUBREAPER): %v\n", errno)
		os.Exit(2)
	}
	report := os.NewFile(3, "report")
	terms := make(chan os.Signal, 1)
	signal.Notify(terms, syscall.SIGTERM)
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "sbx-reaper: %v\n", err)
		fmt.Fprintln(report, "exit 127")
		os.Exit(127)
	}
	target := cmd.Process.Pid
	go func() {
		<-terms
		_ = syscall.Kill(target, syscall.SIGKILL)
	}()
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil { // ECHILD: nothing left to reap
			return
		}
		if pid != target {
			continue
		}
		if status.Signaled() {
			fmt.Fprintf(report, "signal %d\n", int(status.Signal()))
		} else {
			fmt.Fprintf(report, "exit %d\n", status.ExitStatus())
		}
		_ = report.Close()
		// Forget the command: a later SIGTERM must not hit a reused pid.
		signal.Stop(terms)
		signal.Ignore(syscall.SIGTERM)
	}
}
