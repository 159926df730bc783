//go:build race

package media

// raceEnabled: under the race detector sync.Pool deliberately drops items, so pion/srtp's pooled CTR
// buffer shows up as an allocation; the zero-allocation assertion for SRTP only holds without -race.
const raceEnabled = true
