// Package realpeer runs tools no one here wrote — sipp, tshark, xmllint, sox —
// as peers in tests: it finds them, gives them free loopback ports, bounds
// their run time, and always cleans them up, even when the test fails.
package realpeer
