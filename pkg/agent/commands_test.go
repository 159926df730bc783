package agent

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseCommand(t *testing.T) {
	known := func(s string) bool { return s == "call-1" }
	for _, tc := range []struct {
		line string
		want command
		err  string
	}{
		{"", command{}, ""},
		{"   ", command{}, ""},
		{"help", command{verb: "help"}, ""},
		{"?", command{verb: "help"}, ""},
		{"EXIT", command{verb: "quit"}, ""},
		{"calls", command{verb: "calls"}, ""},
		{"answer", command{verb: "answer"}, ""},
		{"answer 0123456789abcdef", command{verb: "answer", conn: "0123456789abcdef"}, ""},
		{"hangup call-1", command{verb: "release", conn: "call-1"}, ""},
		{"make 7002", command{verb: "make", dn: "7002"}, ""},
		{"dial +15551230000", command{verb: "make", dn: "+15551230000"}, ""},
		{"attach a=1 b=", command{verb: "attach", kv: map[string]string{"a": "1", "b": ""}}, ""},
		{"update call-1 a=x=y", command{verb: "update", conn: "call-1", kv: map[string]string{"a": "x=y"}}, ""},
		{"attach 0123456789ABCDEF k=v", command{verb: "attach", conn: "0123456789ABCDEF", kv: map[string]string{"k": "v"}}, ""},
		{"delete a b", command{verb: "delete", keys: []string{"a", "b"}}, ""},
		{"delete call-1 a", command{verb: "delete", conn: "call-1", keys: []string{"a"}}, ""},
		{"calls now", command{}, "takes no arguments"},
		{"answer a b", command{}, "answer [conn]"},
		{"make", command{}, "make <dn>"},
		{"make 7 0", command{}, "make <dn>"},
		{"attach", command{}, "key=value"},
		{"attach call-1", command{}, "key=value"},
		{"attach novalue", command{}, `"novalue" is not key=value`},
		{"attach =v", command{}, "is not key=value"},
		{"delete", command{}, "delete [conn] key"},
		{"record start", command{verb: "record", action: "start"}, ""},
		{"record START call-1 record=destination id=r1", command{verb: "record", action: "start", conn: "call-1",
			kv: map[string]string{"record": "destination", "id": "r1"}}, ""},
		{"record pause 0123456789abcdef", command{verb: "record", action: "pause", conn: "0123456789abcdef"}, ""},
		{"record stop", command{verb: "record", action: "stop"}, ""},
		{"record resume call-1", command{verb: "record", action: "resume", conn: "call-1"}, ""},
		{"record", command{}, "record start|stop"},
		{"record rewind", command{}, "record start|stop"},
		{"record stop id=1", command{}, "record stop [conn]"},
		{"record start novalue", command{}, `"novalue" is not key=value`},
		{"monitor 7001", command{verb: "monitor", action: "next", dn: "7001"}, ""},
		{"monitor 7001 coach agent", command{verb: "monitor", action: "next", dn: "7001", mode: "coach", scope: "agent"}, ""},
		{"monitor 7001 CALL mute", command{verb: "monitor", action: "next", dn: "7001", mode: "mute", scope: "call"}, ""},
		{"monitor cancel 7001", command{verb: "monitor", action: "cancel", dn: "7001"}, ""},
		{"monitor", command{}, "monitor <agent>"},
		{"monitor 7001 loud", command{}, `"loud" is neither a mode`},
		{"monitor cancel", command{}, "monitor cancel <agent>"},
		{"monitor a/b", command{}, "monitor <agent>"},
		{"transfer 7002", command{}, `unknown command "transfer"`},
		{strings.Repeat("x", maxCommandLine+1), command{}, "longer than"},
	} {
		got, err := parseCommand(tc.line, known)
		if tc.err != "" {
			require.ErrorIs(t, err, errCommand, tc.line)
			assert.Contains(t, err.Error(), tc.err, tc.line)
			continue
		}
		require.NoError(t, err, tc.line)
		assert.Equal(t, tc.want, got, tc.line)
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"help", "answer", "attach a=1", "delete call-1 a b", "make 7002", "release 0123456789abcdef",
		"record start id=x", "record pause call-1", "monitor 7001 coach agent", "monitor cancel 7001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c, err := parseCommand(line, func(s string) bool { return s == "call-1" })
		if err != nil {
			return
		}
		switch c.verb {
		case "", "help", "calls", "quit", "answer", "release":
		case "make":
			if !dnPattern.MatchString(c.dn) {
				t.Fatalf("make with bad DN %q", c.dn)
			}
		case "attach", "update":
			if len(c.kv) == 0 {
				t.Fatal("attach without data")
			}
			for k := range c.kv {
				if k == "" {
					t.Fatal("empty key")
				}
			}
		case "delete":
			if len(c.keys) == 0 {
				t.Fatal("delete without keys")
			}
		case "record":
			switch c.action {
			case "start":
			case "stop", "pause", "resume":
				if len(c.kv) > 0 {
					t.Fatal("extensions on a record " + c.action)
				}
			default:
				t.Fatalf("record action %q accepted", c.action)
			}
		case "monitor":
			if (c.action != "next" && c.action != "cancel") || !dnPattern.MatchString(c.dn) {
				t.Fatalf("monitor %q %q accepted", c.action, c.dn)
			}
		default:
			t.Fatalf("unknown verb %q accepted", c.verb)
		}
	})
}
