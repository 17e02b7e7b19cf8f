package otslocal

import (
	"os"

	"golang.org/x/sys/unix"
)

// fdatasync makes the file's data durable, and its size, but not its times: a write into
// bytes the file has already is then one flush of the disk's cache, without a commit of the
// file system's journal (fdatasync(2)).
func fdatasync(f *os.File) error {
	return unix.Fdatasync(int(f.Fd()))
}
