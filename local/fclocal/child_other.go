//go:build !linux

package fclocal

import "os/exec"

// dieWithParent does nothing where the kernel cannot tie a child's life to its parent's:
// there, a SIGKILLed `otsetl local` may leave its function process running.
func dieWithParent(*exec.Cmd) {}
