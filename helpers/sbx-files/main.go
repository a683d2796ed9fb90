// Command sbx-files performs the file operations of sbx's file API from inside a sandbox.
//
// The host mounts it read-only into every gVisor sandbox and runs it with `runsc exec`, so the
// sandbox's own kernel resolves every path: a symlink the agent planted leads only to places inside
// the sandbox, there is no window between a host-side check and use, and what it writes is what the
// sandbox's next command reads (gVisor's caches see it). Under the development runtime `none` it
// runs on the host with --root, confined by os.Root instead.
//
// Usage: sbx-files [--root DIR] read|write|list|stat|delete, with a JSON request on stdin and a
// JSON response on stdout: {"ok":true,...} or {"ok":false,"error":{"code":"ENOENT","detail":"..."}}.
// Its output is untrusted by the host, which checks every field and size.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// maxRequestBytes bounds what is read from stdin; the host checks far smaller limits before sending.
const maxRequestBytes = 64 << 20

func main() {
	args := os.Args[1:]
	var fsys fileSystem = hostFS{}
	if len(args) >= 2 && args[0] == "--root" {
		root, err := os.OpenRoot(args[1])
		if err != nil {
			fail(fmt.Errorf("open root: %w", err))
		}
		fsys = rootFS{root}
		args = args[2:]
	}
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: sbx-files [--root DIR] read|write|list|stat|delete < request.json")
		os.Exit(2)
	}
	op, ok := operations[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "sbx-files: unknown operation %q\n", args[0])
		os.Exit(2)
	}
	raw, err := io.ReadAll(io.LimitReader(os.Stdin, maxRequestBytes+1))
	if err != nil || len(raw) > maxRequestBytes {
		fail(errInvalid("request too large or unreadable"))
	}
	result, err := op(fsys, raw)
	if err != nil {
		fail(err)
	}
	respond(map[string]any{"ok": true, "result": result})
}

var operations = map[string]func(fileSystem, []byte) (any, error){
	"read":   decoded(readFile),
	"write":  decoded(writeFiles),
	"list":   decoded(listDir),
	"stat":   decoded(statPath),
	"delete": decoded(deletePath),
}

// decoded adapts an operation on a typed request to the raw JSON it is given.
func decoded[R any](op func(fileSystem, R) (any, error)) func(fileSystem, []byte) (any, error) {
	return func(fsys fileSystem, raw []byte) (any, error) {
		var request R
		if err := json.Unmarshal(raw, &request); err != nil {
			return nil, errInvalid("malformed request: " + err.Error())
		}
		return op(fsys, request)
	}
}

func respond(value any) {
	if err := json.NewEncoder(os.Stdout).Encode(value); err != nil {
		os.Exit(1)
	}
}

func fail(err error) {
	failure := map[string]any{"code": errorCode(err), "detail": err.Error()}
	var batch *indexedError
	if errors.As(err, &batch) {
		failure["index"] = batch.index
	}
	respond(map[string]any{"ok": false, "error": failure})
	os.Exit(0)
}

// opError carries a code of sbx's own (EINVAL-like conditions with a precise meaning).
type opError struct {
	code   string
	detail string
}

func (e *opError) Error() string { return e.detail }

func errInvalid(detail string) error    { return &opError{"EINVAL", detail} }
func errNotRegular(detail string) error { return &opError{"ENOTREG", detail} }

func errorCode(err error) string {
	var own *opError
	if errors.As(err, &own) {
		return own.code
	}
	return errnoName(err)
}
