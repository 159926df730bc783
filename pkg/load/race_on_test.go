//go:build race

package load

// raceEnabled: under the race detector sync.Pool drops items on purpose, so the
// pooled sendmmsg headers of golang.org/x/net show up as allocations; the
// zero-allocation assertions only hold without -race.
const raceEnabled = true
