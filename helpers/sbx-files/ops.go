package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
)

const (
	maxReadBytes = 1 << 20
	maxListLimit = 1000
	maxSymlinks  = 40
	// What the kernel may not be asked to set from the file API: setuid, setgid, sticky.
	specialBits = 0o7000
)

// absolute makes a sandbox path absolute: relative paths start at /workspace, as tools do.
func absolute(p string) string {
	if strings.HasPrefix(p, "/") {
		return p
	}
	return "/workspace/" + p
}

// resolveFinal follows symlinks in the last component, so a write through a link replaces the
// file it names (as an editor would) rather than the link. Links resolve as the sandbox sees them.
func resolveFinal(fsys fileSystem, p string) (string, error) {
	for i := 0; i < maxSymlinks; i++ {
		info, err := fsys.Lstat(p)
		if err != nil || info.Mode()&os.ModeSymlink == 0 {
			return p, nil
		}
		target, err := fsys.Readlink(p)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			p = target
		} else {
			p = path.Join(path.Dir(p), target)
		}
	}
	return "", syscall.ELOOP
}

func kind(mode os.FileMode) string {
	switch {
	case mode.IsRegular():
		return "file"
	case mode.IsDir():
		return "dir"
	case mode&os.ModeSymlink != 0:
		return "symlink"
	default:
		return "other"
	}
}

type readRequest struct {
	Path     string `json:"path"`
	Offset   int64  `json:"offset"`
	MaxBytes int    `json:"maxBytes"`
}

// openForReading opens p and says what it is. O_NONBLOCK: a FIFO or device planted at the path
// cannot make the open hang; callers refuse it once fstat has said what it is.
func openForReading(fsys fileSystem, p string) (*os.File, os.FileInfo, error) {
	f, err := fsys.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, info, nil
}

// readFile reads one page of a regular file.
func readFile(fsys fileSystem, req readRequest) (any, error) {
	if req.Offset < 0 || req.MaxBytes <= 0 || req.MaxBytes > maxReadBytes {
		return nil, errInvalid("offset or maxBytes out of range")
	}
	f, info, err := openForReading(fsys, absolute(req.Path))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if info.IsDir() {
		return nil, syscall.EISDIR
	}
	if !info.Mode().IsRegular() {
		return nil, errNotRegular("not a regular file")
	}
	size := info.Size()
	want := int64(req.MaxBytes)
	if left := size - req.Offset; left < want {
		want = max(left, 0)
	}
	buf := make([]byte, want)
	n, err := f.ReadAt(buf, req.Offset)
	if err != nil && err != io.EOF {
		return nil, err
	}
	return map[string]any{"size": size, "data": base64.StdEncoding.EncodeToString(buf[:n])}, nil
}

type fileWrite struct {
	Path string `json:"path"`
	Data string `json:"data"`
	Mode *int   `json:"mode"`
}

type writeRequest struct {
	Files []fileWrite `json:"files"`
}

// staged is one file written to a temporary name beside its target, not yet renamed into place.
type staged struct {
	target  string
	temp    string
	backup  string
	existed bool
}

// writeFiles writes a batch all or nothing: every file is first written to a temporary file beside
// its target (creating parent directories), and only when all of them are written are they renamed
// into place. A failure undoes everything it did, including directories it created.
func writeFiles(fsys fileSystem, req writeRequest) (any, error) {
	var done []staged
	var madeDirs []string
	undo := func() {
		for i := len(done) - 1; i >= 0; i-- {
			fsys.Remove(done[i].temp)
			if done[i].backup != "" {
				fsys.Remove(done[i].backup)
			}
		}
		for i := len(madeDirs) - 1; i >= 0; i-- {
			fsys.Remove(madeDirs[i])
		}
	}
	for i, file := range req.Files {
		one, dirs, err := stage(fsys, file)
		madeDirs = append(madeDirs, dirs...)
		if err != nil {
			undo()
			return nil, indexed(i, err)
		}
		done = append(done, one)
	}
	// Hard links keep each replaced file, so a rename failing half-way can put the old ones back.
	for i := range done {
		if !done[i].existed {
			continue
		}
		done[i].backup = path.Join(path.Dir(done[i].target), ".sbx-backup-"+randomSuffix())
		if err := fsys.Link(done[i].target, done[i].backup); err != nil {
			done[i].backup = ""
			undo()
			return nil, indexed(i, err)
		}
	}
	for i := range done {
		if err := fsys.Rename(done[i].temp, done[i].target); err != nil {
			for j := i - 1; j >= 0; j-- {
				if done[j].backup != "" {
					fsys.Rename(done[j].backup, done[j].target)
					done[j].backup = ""
				} else {
					fsys.Remove(done[j].target)
				}
			}
			undo()
			return nil, indexed(i, err)
		}
	}
	for _, one := range done {
		if one.backup != "" {
			fsys.Remove(one.backup)
		}
	}
	return map[string]any{"written": len(done)}, nil
}

func stage(fsys fileSystem, file fileWrite) (staged, []string, error) {
	data, err := base64.StdEncoding.DecodeString(file.Data)
	if err != nil {
		return staged{}, nil, errInvalid("content is not valid base64")
	}
	if file.Mode != nil && (*file.Mode < 0 || *file.Mode > 0o777) {
		return staged{}, nil, errInvalid("mode may hold permission bits only (no setuid, setgid or sticky)")
	}
	target, err := resolveFinal(fsys, absolute(file.Path))
	if err != nil {
		return staged{}, nil, err
	}
	if path.Clean(target) == "/" {
		return staged{}, nil, syscall.EISDIR
	}
	mode := os.FileMode(0o644)
	existed := false
	if info, err := fsys.Lstat(target); err == nil {
		if info.IsDir() {
			return staged{}, nil, syscall.EISDIR
		}
		if !info.Mode().IsRegular() {
			return staged{}, nil, errNotRegular("not a regular file")
		}
		existed = true
		mode = info.Mode().Perm()
	}
	if file.Mode != nil {
		mode = os.FileMode(*file.Mode)
	}
	dir := path.Dir(target)
	made, err := mkdirAll(fsys, dir)
	if err != nil {
		return staged{}, made, err
	}
	temp := path.Join(dir, ".sbx-write-"+randomSuffix())
	f, err := fsys.OpenFile(temp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return staged{}, made, err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		fsys.Remove(temp)
		return staged{}, made, err
	}
	return staged{target: target, temp: temp, existed: existed}, made, nil
}

// mkdirAll creates the missing directories of p and returns them, outermost first.
func mkdirAll(fsys fileSystem, p string) ([]string, error) {
	var missing []string
	for dir := path.Clean(p); dir != "/" && dir != "."; dir = path.Dir(dir) {
		info, err := fsys.Lstat(dir)
		if err == nil {
			if info.Mode()&os.ModeSymlink != 0 {
				break // the kernel follows it when creating beneath it
			}
			if !info.IsDir() {
				return nil, syscall.ENOTDIR
			}
			break
		}
		missing = append([]string{dir}, missing...)
	}
	var made []string
	for _, dir := range missing {
		if err := fsys.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
			return made, err
		}
		made = append(made, dir)
	}
	return made, nil
}

type listRequest struct {
	Path  string `json:"path"`
	After string `json:"after"`
	Limit int    `json:"limit"`
}

// listDir returns up to Limit entries sorted by name, starting after the cursor `After`.
func listDir(fsys fileSystem, req listRequest) (any, error) {
	if req.Limit <= 0 || req.Limit > maxListLimit {
		return nil, errInvalid("limit out of range")
	}
	dir := absolute(req.Path)
	f, info, err := openForReading(fsys, dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if !info.IsDir() {
		return nil, syscall.ENOTDIR
	}
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	start := sort.SearchStrings(names, req.After)
	if start < len(names) && names[start] == req.After {
		start++
	}
	names = names[start:]
	more := len(names) > req.Limit
	if more {
		names = names[:req.Limit]
	}
	entries := make([]map[string]any, 0, len(names))
	for _, name := range names {
		entry, err := fsys.Lstat(path.Join(dir, name))
		if err != nil {
			continue // removed while listing
		}
		entries = append(entries, map[string]any{"name": name, "type": kind(entry.Mode()), "size": entry.Size()})
	}
	return map[string]any{"entries": entries, "more": more}, nil
}

type pathRequest struct {
	Path      string `json:"path"`
	Recursive bool   `json:"recursive"`
}

// statPath describes the path itself (a symlink is reported as one, with its target).
func statPath(fsys fileSystem, req pathRequest) (any, error) {
	p := absolute(req.Path)
	info, err := fsys.Lstat(p)
	if err != nil {
		return nil, err
	}
	result := map[string]any{
		"type":    kind(info.Mode()),
		"size":    info.Size(),
		"mode":    int(info.Mode().Perm()),
		"mtimeMs": info.ModTime().UnixMilli(),
	}
	if info.Mode()&os.ModeSymlink != 0 {
		if target, err := fsys.Readlink(p); err == nil {
			result["target"] = target
		}
	}
	return result, nil
}

// deletePath removes a file, a symlink (not its target) or, with Recursive, a directory tree.
func deletePath(fsys fileSystem, req pathRequest) (any, error) {
	p := absolute(req.Path)
	if path.Clean(p) == "/" {
		return nil, errInvalid("refusing to delete the sandbox root")
	}
	info, err := fsys.Lstat(p)
	if err != nil {
		return nil, err
	}
	if info.IsDir() && req.Recursive {
		err = fsys.RemoveAll(p)
	} else {
		err = fsys.Remove(p)
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"deleted": true}, nil
}

func indexed(i int, err error) error {
	return &indexedError{index: i, err: err}
}

// indexedError says which file of a batch failed; its code is that of the cause.
type indexedError struct {
	index int
	err   error
}

func (e *indexedError) Error() string { return e.err.Error() }
func (e *indexedError) Unwrap() error { return e.err }

func randomSuffix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}
