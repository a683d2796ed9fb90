// sbx-spawn starts processes for the host worker. The worker is a large process (the Temporal
// worker's runtime), and every fork copies its page tables: about 5 ms per command at 180 MB, paid
// by every runsc exec and zfs call. This small process starts them instead (Go starts a child with
// vfork semantics, whatever its size) and relays their output.
//
// Protocol: one JSON object per line. Requests on stdin:
//
//	{"id":1,"argv":["runsc","exec",...],"path":"/usr/bin:…","stdin":"<base64>"}  start (no "stdin": /dev/null)
//	{"id":1,"argv":[…],"detached":{"stderrFile":"/tmp/x","report":true}}  for sbx-reaper runsc run: see request
//	{"id":1,"argv":["zfs",…],"bounds":{"timeoutMs":120000,"killAfterMs":5000,"lock":{"path":"/var/lib/sbx/zfs.lock","waitMs":60000}}}
//	                                                          bounded and locked: see bounds
//	{"id":1,"kill":15}                                        send a signal to that child
//	{"id":1,"close":true}                                     stop reading its output (it may hold the pipes open)
//
// Events on stdout:
//
//	{"id":1,"pid":123}                   started
//	{"id":1,"error":"…","code":"ENOENT"} could not be started (no other event follows)
//	{"id":1,"fd":1,"data":"<base64>"}    output on stdout (fd 1) or stderr (fd 2)
//	{"id":1,"fd":1,"eof":true}           that stream closed
//	{"id":1,"exit":0} / {"id":1,"exit":-1,"signal":9}  the child ended
//
// It exits when its stdin closes (the worker is gone); the children run on.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type request struct {
	ID    int64    `json:"id"`
	Argv  []string `json:"argv"`
	Path  *string  `json:"path"`
	Stdin *string  `json:"stdin"`
	// Detached: stdin and stdout on /dev/null, stderr appended to StderrFile, a session of its own,
	// and with Report a pipe on fd 3, relayed as fd 3.
	Detached *struct {
		StderrFile string `json:"stderrFile"`
		Report     bool   `json:"report"`
	} `json:"detached"`
	Bounds *bounds `json:"bounds"`
	Kill   int     `json:"kill"`
	Close  bool    `json:"close"`
}

// bounds are what `flock -w <wait> -E 75 <path> timeout -k <killAfter> <timeout> <argv>` would put
// on a command, without the two extra processes (each a fork and exec on every zfs call). The lock is
// an exclusive flock on Path, taken before the command starts and inherited by it, so it is held
// until the command ends (as flock's child holds it); not taken within WaitMs, the command never
// starts and exits 75. A command still running after TimeoutMs gets SIGTERM, and SIGKILL KillAfterMs
// later; it then exits 124, or 137 when it took the SIGKILL (as timeout's).
type bounds struct {
	TimeoutMs   int64 `json:"timeoutMs"`
	KillAfterMs int64 `json:"killAfterMs"`
	Lock        *struct {
		Path   string `json:"path"`
		WaitMs int64  `json:"waitMs"`
	} `json:"lock"`
}

const (
	lockTimeoutExit    = 75
	commandTimeoutExit = 124
	commandKilledExit  = 137
)

type event struct {
	ID     int64  `json:"id"`
	Pid    int    `json:"pid,omitempty"`
	Error  string `json:"error,omitempty"`
	Code   string `json:"code,omitempty"`
	Fd     int    `json:"fd,omitempty"`
	Data   string `json:"data,omitempty"`
	EOF    bool   `json:"eof,omitempty"`
	Exit   *int   `json:"exit,omitempty"`
	Signal int    `json:"signal,omitempty"`
}

type child struct {
	proc    *os.Process
	readers []*os.File
}

var (
	outMu    sync.Mutex
	out      = bufio.NewWriterSize(os.Stdout, 64<<10)
	children sync.Map // id -> *child
)

func send(e event) {
	line, _ := json.Marshal(e)
	outMu.Lock()
	defer outMu.Unlock()
	out.Write(line)
	out.WriteByte('\n')
	out.Flush()
}

var errnoNames = map[syscall.Errno]string{
	syscall.ENOENT: "ENOENT", syscall.E2BIG: "E2BIG", syscall.EACCES: "EACCES", syscall.EAGAIN: "EAGAIN",
	syscall.ENOMEM: "ENOMEM", syscall.EMFILE: "EMFILE", syscall.ENFILE: "ENFILE", syscall.ENOEXEC: "ENOEXEC",
	syscall.ENOTDIR: "ENOTDIR", syscall.EPERM: "EPERM",
}

func errorCode(err error) string {
	if errors.Is(err, exec.ErrNotFound) {
		return "ENOENT"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if name, ok := errnoNames[errno]; ok {
			return name
		}
	}
	return ""
}

func start(r request, lock *os.File) {
	if lock != nil {
		// The child holds its own copy: the lock lasts as long as the command, whatever happens here.
		defer lock.Close()
	}
	if len(r.Argv) == 0 {
		send(event{ID: r.ID, Error: "no command", Code: "EINVAL"})
		return
	}
	// The worker's PATH as it is now finds the program (and is the command's), as a direct spawn's would.
	if r.Path != nil {
		os.Setenv("PATH", *r.Path)
	}
	cmd := exec.Command(r.Argv[0], r.Argv[1:]...)
	var readers, writers []*os.File
	var fds []int
	closeAll := func(files []*os.File) {
		for _, f := range files {
			f.Close()
		}
	}
	fail := func(err error) {
		closeAll(readers)
		closeAll(writers)
		send(event{ID: r.ID, Error: err.Error(), Code: errorCode(err)})
	}
	pipes := 2
	if d := r.Detached; d != nil {
		pipes = 0
		if d.Report {
			pipes = 1
		}
		stderr, err := os.OpenFile(d.StderrFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			fail(err)
			return
		}
		defer stderr.Close()
		cmd.Stderr = stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	}
	for range pipes {
		rd, wr, err := os.Pipe()
		if err != nil {
			fail(err)
			return
		}
		readers, writers = append(readers, rd), append(writers, wr)
	}
	switch {
	case r.Detached != nil && pipes == 1:
		cmd.ExtraFiles, fds = writers, []int{3}
	case r.Detached == nil:
		cmd.Stdout, cmd.Stderr, fds = writers[0], writers[1], []int{1, 2}
		if lock != nil {
			cmd.ExtraFiles = []*os.File{lock}
		}
	}
	var stdinWriter *os.File
	if r.Stdin != nil {
		data, err := base64.StdEncoding.DecodeString(*r.Stdin)
		rd, wr, perr := os.Pipe()
		if err != nil || perr != nil {
			fail(errors.New("bad stdin"))
			return
		}
		cmd.Stdin, stdinWriter = rd, wr
		defer rd.Close()
		go func() {
			wr.Write(data)
			wr.Close()
		}()
	}
	err := cmd.Start()
	if err == nil {
		closeAll(writers)
		writers = nil
	}
	if err != nil {
		if stdinWriter != nil {
			stdinWriter.Close()
		}
		fail(err)
		return
	}
	children.Store(r.ID, &child{proc: cmd.Process, readers: readers})
	send(event{ID: r.ID, Pid: cmd.Process.Pid})
	// 0: within its time; 1: sent SIGTERM; 2: sent SIGKILL.
	var overdue atomic.Int32
	var timers []*time.Timer
	if b := r.Bounds; b != nil && b.TimeoutMs > 0 {
		proc, term := cmd.Process, time.Duration(b.TimeoutMs)*time.Millisecond
		timers = []*time.Timer{
			time.AfterFunc(term, func() {
				overdue.Store(1)
				proc.Signal(syscall.SIGTERM)
			}),
			time.AfterFunc(term+time.Duration(b.KillAfterMs)*time.Millisecond, func() {
				overdue.Store(2)
				proc.Signal(syscall.SIGKILL)
			}),
		}
	}
	var streams sync.WaitGroup
	for i, rd := range readers {
		streams.Add(1)
		go func(fd int, rd *os.File) {
			defer streams.Done()
			buf := make([]byte, 64<<10)
			for {
				n, err := rd.Read(buf)
				if n > 0 {
					send(event{ID: r.ID, Fd: fd, Data: base64.StdEncoding.EncodeToString(buf[:n])})
				}
				if err != nil {
					break
				}
			}
			rd.Close()
			send(event{ID: r.ID, Fd: fd, EOF: true})
		}(fds[i], rd)
	}
	go func() {
		// Wait only reaps: the output has its own readers, which a background process may hold open.
		cmd.Wait()
		for _, t := range timers {
			t.Stop()
		}
		code, sig := cmd.ProcessState.ExitCode(), 0
		if status, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && status.Signaled() {
			sig = int(status.Signal())
		}
		switch overdue.Load() {
		case 1:
			code, sig = commandTimeoutExit, 0
		case 2:
			code, sig = commandKilledExit, 0
		}
		send(event{ID: r.ID, Exit: &code, Signal: sig})
		go func() {
			streams.Wait()
			children.Delete(r.ID)
		}()
	}()
}

func main() {
	// A Ctrl-C meant for the worker must not end the commands it is still answering for; the worker
	// stops this process by closing its stdin. Notify (not Ignore): the children get default handlers.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	for {
		line, err := in.ReadBytes('\n')
		if len(line) > 0 {
			var r request
			if json.Unmarshal(line, &r) == nil {
				handle(r)
			}
		}
		if err == io.EOF || err != nil {
			return
		}
	}
}

func handle(r request) {
	switch {
	case r.Kill != 0:
		if c, ok := children.Load(r.ID); ok {
			c.(*child).proc.Signal(syscall.Signal(r.Kill))
		}
	case r.Close:
		if c, ok := children.Load(r.ID); ok {
			for _, rd := range c.(*child).readers {
				rd.Close()
			}
		}
	case r.Bounds != nil && r.Bounds.Lock != nil:
		// Waiting for the lock must not hold up other requests.
		go startLocked(r)
	default:
		start(r, nil)
	}
}

// startLocked takes the request's lock, then starts it holding the lock (see bounds).
func startLocked(r request) {
	l := r.Bounds.Lock
	// The worker made the lock file a root-only regular file; a link in its place is not followed.
	f, err := os.OpenFile(l.Path, os.O_RDWR|syscall.O_NOFOLLOW, 0)
	if err != nil {
		send(event{ID: r.ID, Error: err.Error(), Code: errorCode(err)})
		return
	}
	got := make(chan error, 1)
	go func() { got <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-got:
		if err != nil {
			f.Close()
			send(event{ID: r.ID, Error: err.Error(), Code: errorCode(err)})
			return
		}
		start(r, f)
	case <-time.After(time.Duration(l.WaitMs) * time.Millisecond):
		// The wait goes on in its goroutine; a lock it takes later is let go at once.
		go func() {
			<-got
			f.Close()
		}()
		code := lockTimeoutExit
		send(event{ID: r.ID, Fd: 1, EOF: true})
		send(event{ID: r.ID, Fd: 2, EOF: true})
		send(event{ID: r.ID, Exit: &code})
	}
}
