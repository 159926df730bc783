package agent

import (
	"errors"
	"fmt"
	"strings"
)

// maxCommandLine bounds one typed command.
const maxCommandLine = 16 << 10

// errCommand is a command line the desktop cannot run.
var errCommand = errors.New("bad command")

// command is one parsed desktop command: a verb and its arguments. A ConnID
// argument, where allowed, is optional: without it the command acts on the
// desktop's current call.
type command struct {
	verb   string
	action string            // record: start, stop, pause, resume; monitor: next, cancel
	conn   string            // explicit ConnID, if given
	dn     string            // make; monitor: the agent
	kv     map[string]string // attach, update; record start: the Extensions
	keys   []string          // delete
	mode   string            // monitor: mute or coach
	scope  string            // monitor: call or agent
}

const helpText = `commands:
  calls                           list the calls of this DN
  answer [conn]                   answer a ringing call (auto-answer phones)
  release [conn]                  hang up (alias: hangup)
  make <dn>                       call a DN from this DN's phone
  attach [conn] key=value ...     attach user data
  update [conn] key=value ...     update user data
  delete [conn] key ...           delete user data keys
  record start [conn] [key=value ...]
                                  start recording (keys: record=source|destination, id, dest, dest2)
  record stop|pause|resume [conn] stop, pause or resume the call's recording
  monitor <agent> [mute|coach] [call|agent]
                                  monitor the agent's next call (call) or all its calls (agent)
  monitor cancel <agent>          stop monitoring the agent
  help                            this text
  quit                            leave (alias: exit)
[conn] is a ConnID; without it the command acts on the current call.`

// parseCommand parses one line. isConn tells whether a word is a ConnID
// (one the desktop knows); it decides whether an optional first argument is
// the ConnID or already a key.
func parseCommand(line string, isConn func(string) bool) (command, error) {
	if len(line) > maxCommandLine {
		return command{}, fmt.Errorf("%w: longer than %d bytes", errCommand, maxCommandLine)
	}
	f := strings.Fields(line)
	if len(f) == 0 {
		return command{}, nil
	}
	c := command{verb: strings.ToLower(f[0])}
	args := f[1:]
	takeConn := func() {
		if len(args) > 0 && (isConn(args[0]) || isConnIDShape(args[0])) {
			c.conn, args = args[0], args[1:]
		}
	}
	switch c.verb {
	case "help", "?", "calls", "quit", "exit":
		if len(args) > 0 {
			return command{}, fmt.Errorf("%w: %s takes no arguments", errCommand, c.verb)
		}
		if c.verb == "?" {
			c.verb = "help"
		}
		if c.verb == "exit" {
			c.verb = "quit"
		}
	case "answer", "release", "hangup":
		if c.verb == "hangup" {
			c.verb = "release"
		}
		if len(args) > 1 {
			return command{}, fmt.Errorf("%w: %s [conn]", errCommand, c.verb)
		}
		if len(args) == 1 {
			c.conn = args[0]
		}
	case "make", "call", "dial":
		c.verb = "make"
		if len(args) != 1 || !dnPattern.MatchString(args[0]) {
			return command{}, fmt.Errorf("%w: make <dn>", errCommand)
		}
		c.dn = args[0]
	case "attach", "update":
		takeConn()
		if len(args) == 0 {
			return command{}, fmt.Errorf("%w: %s [conn] key=value [key=value]", errCommand, c.verb)
		}
		c.kv = map[string]string{}
		for _, a := range args {
			k, v, ok := strings.Cut(a, "=")
			if !ok || k == "" {
				return command{}, fmt.Errorf("%w: %q is not key=value", errCommand, a)
			}
			c.kv[k] = v
		}
	case "delete":
		takeConn()
		if len(args) == 0 {
			return command{}, fmt.Errorf("%w: delete [conn] key [key]", errCommand)
		}
		c.keys = args
	case "record":
		const usage = "record start|stop|pause|resume [conn] [key=value ...]"
		if len(args) == 0 {
			return command{}, fmt.Errorf("%w: %s", errCommand, usage)
		}
		c.action, args = strings.ToLower(args[0]), args[1:]
		switch c.action {
		case "start", "stop", "pause", "resume":
		default:
			return command{}, fmt.Errorf("%w: %s", errCommand, usage)
		}
		takeConn()
		if len(args) > 0 && c.action != "start" {
			return command{}, fmt.Errorf("%w: record %s [conn]", errCommand, c.action)
		}
		for _, a := range args {
			k, v, ok := strings.Cut(a, "=")
			if !ok || k == "" {
				return command{}, fmt.Errorf("%w: %q is not key=value", errCommand, a)
			}
			if c.kv == nil {
				c.kv = map[string]string{}
			}
			c.kv[k] = v
		}
	case "monitor":
		const usage = "monitor <agent> [mute|coach] [call|agent], or monitor cancel <agent>"
		if len(args) == 0 {
			return command{}, fmt.Errorf("%w: %s", errCommand, usage)
		}
		if strings.EqualFold(args[0], "cancel") {
			if len(args) != 2 || !dnPattern.MatchString(args[1]) {
				return command{}, fmt.Errorf("%w: monitor cancel <agent>", errCommand)
			}
			c.action, c.dn = "cancel", args[1]
			break
		}
		if !dnPattern.MatchString(args[0]) || len(args) > 3 {
			return command{}, fmt.Errorf("%w: %s", errCommand, usage)
		}
		c.action, c.dn = "next", args[0]
		for _, a := range args[1:] {
			switch strings.ToLower(a) {
			case "mute", "coach":
				c.mode = strings.ToLower(a)
			case "call", "agent":
				c.scope = strings.ToLower(a)
			default:
				return command{}, fmt.Errorf("%w: %q is neither a mode (mute, coach) nor a scope (call, agent)", errCommand, a)
			}
		}
	default:
		return command{}, fmt.Errorf("%w: unknown command %q (try help)", errCommand, c.verb)
	}
	return c, nil
}

// isConnIDShape reports whether s looks like an arlab ConnID (16 hex digits).
func isConnIDShape(s string) bool {
	if len(s) != 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
