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
	for _, s := range []string{"help", "answer", "attach a=1", "delete call-1 a b", "make 7002", "release 0123456789abcdef"} {
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
		default:
			t.Fatalf("unknown verb %q accepted", c.verb)
		}
	})
}
