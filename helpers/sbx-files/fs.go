package main

import (
	"errors"
	"os"
	"strings"
	"syscall"
)

// fileSystem is the handful of path operations the file API needs, on absolute sandbox paths.
type fileSystem interface {
	OpenFile(name string, flag int, perm os.FileMode) (*os.File, error)
	Lstat(name string) (os.FileInfo, error)
	Mkdir(name string, perm os.FileMode) error
	Rename(oldname, newname string) error
	Remove(name string) error
	RemoveAll(name string) error
	Link(oldname, newname string) error
	Readlink(name string) (string, error)
}

// hostFS is the plain file system of the process: inside a sandbox that is the sandbox's own view.
type hostFS struct{}

func (hostFS) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}
func (hostFS) Lstat(name string) (os.FileInfo, error)    { return os.Lstat(name) }
func (hostFS) Mkdir(name string, perm os.FileMode) error { return os.Mkdir(name, perm) }
func (hostFS) Rename(oldname, newname string) error      { return os.Rename(oldname, newname) }
func (hostFS) Remove(name string) error                  { return os.Remove(name) }
func (hostFS) RemoveAll(name string) error               { return os.RemoveAll(name) }
func (hostFS) Link(oldname, newname string) error        { return os.Link(oldname, newname) }
func (hostFS) Readlink(name string) (string, error)      { return os.Readlink(name) }

// rootFS confines every path to a directory with os.Root (runtime `none`, which has no sandbox):
// symlinks may not lead out of it, and absolute ones are refused except as the final component.
type rootFS struct{ root *os.Root }

func rel(name string) string {
	trimmed := strings.TrimLeft(name, "/")
	if trimmed == "" {
		return "."
	}
	return trimmed
}

func (r rootFS) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	return r.root.OpenFile(rel(name), flag, perm)
}
func (r rootFS) Lstat(name string) (os.FileInfo, error)    { return r.root.Lstat(rel(name)) }
func (r rootFS) Mkdir(name string, perm os.FileMode) error { return r.root.Mkdir(rel(name), perm) }
func (r rootFS) Rename(oldname, newname string) error {
	return r.root.Rename(rel(oldname), rel(newname))
}
func (r rootFS) Remove(name string) error    { return r.root.Remove(rel(name)) }
func (r rootFS) RemoveAll(name string) error { return r.root.RemoveAll(rel(name)) }
func (r rootFS) Link(oldname, newname string) error {
	return r.root.Link(rel(oldname), rel(newname))
}
func (r rootFS) Readlink(name string) (string, error) { return r.root.Readlink(rel(name)) }

var errnoNames = map[syscall.Errno]string{
	syscall.ENOENT:       "ENOENT",
	syscall.ENOTDIR:      "ENOTDIR",
	syscall.EISDIR:       "EISDIR",
	syscall.EEXIST:       "EEXIST",
	syscall.ELOOP:        "ELOOP",
	syscall.ENOSPC:       "ENOSPC",
	syscall.EDQUOT:       "EDQUOT",
	syscall.EACCES:       "EACCES",
	syscall.EPERM:        "EPERM",
	syscall.EROFS:        "EROFS",
	syscall.ENAMETOOLONG: "ENAMETOOLONG",
	syscall.ENOTEMPTY:    "ENOTEMPTY",
	syscall.EBUSY:        "EBUSY",
	syscall.EINVAL:       "EINVAL",
	syscall.EXDEV:        "EXDEV",
	syscall.ETXTBSY:      "ETXTBSY",
}

func errnoName(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if name, ok := errnoNames[errno]; ok {
			return name
		}
		return "EIO"
	}
	if strings.Contains(err.Error(), "path escapes from parent") {
		return "EESCAPE"
	}
	return "EIO"
}
