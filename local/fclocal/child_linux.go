package fclocal

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the child process cmd get SIGKILL when this process dies, however it
// dies (prctl PR_SET_PDEATHSIG, Linux): `otsetl local` killed with SIGKILL leaves no function
// process running behind it.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
