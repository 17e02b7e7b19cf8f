package main

import (
	"fmt"
	"io"
	"net"

	"github.com/spf13/cobra"

	"github.com/otsetl/otsetl/local/console"
)

// consoleOff is the --console value that turns the console off.
const consoleOff = "off"

// consoleFlags are the web console flags of `otsetl local` and `otsetl otslocal`.
type consoleFlags struct {
	addr        string
	allowRemote bool
}

// register adds --console (default def) and --console-allow-remote to cmd.
func (f *consoleFlags) register(cmd *cobra.Command, def, what string) {
	cmd.Flags().StringVar(&f.addr, "console", def, "address of the web console ("+what+"), host:port, or \""+consoleOff+"\"")
	cmd.Flags().BoolVar(&f.allowRemote, "console-allow-remote", false,
		"allow a --console address beyond loopback: whoever reaches it can read and write the tables")
}

// enabled reports whether a console is asked for.
func (f consoleFlags) enabled() bool { return f.addr != "" && f.addr != consoleOff }

// check checks the address without listening: a usage error.
func (f consoleFlags) check() error {
	if !f.enabled() {
		return nil
	}
	if err := console.CheckAddress(f.addr, f.allowRemote); err != nil {
		return fmt.Errorf("--console: %w (--console-allow-remote allows it)", err)
	}
	return nil
}

// listen listens on the console's address, writing a warning to errOut, prefixed by
// prefix, when that is beyond loopback.
func (f consoleFlags) listen(errOut io.Writer, prefix string) (net.Listener, error) {
	ln, err := console.Listen(f.addr, f.allowRemote)
	if err != nil {
		return nil, fmt.Errorf("%w (--console ADDR moves it, --console %s turns it off)", err, consoleOff)
	}
	if !console.IsLoopback(ln) {
		fmt.Fprintf(errOut, "%s: warning: the console listens on %s, beyond this machine: whoever reaches it can read and write the tables\n", prefix, ln.Addr())
	}
	return ln, nil
}
