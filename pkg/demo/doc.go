// Package demo runs narrated recording flows and verifies what they produced:
// each flow says what it is about to show, runs against real sockets, checks
// the audio and signalling it cares about, and reports a verdict. `arlab demo`
// and `make demo` run them and print a summary table.
package demo
