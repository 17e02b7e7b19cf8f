//go:build !linux

package otslocal

import "os"

// fdatasync makes the file's data durable: os.File.Sync, where Linux's fdatasync(2) is not
// at hand (on macOS, Sync is F_FULLFSYNC).
func fdatasync(f *os.File) error {
	return f.Sync()
}
