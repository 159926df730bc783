// Package lab supervises the lab's services as separate OS processes of the
// same binary: it starts them in dependency order, waits until each reports
// healthy, prefixes and streams their logs, records what runs in a state file
// so `arlab lab status` and `arlab lab down` work from another shell, and
// stops everything on cancel: SIGTERM first, SIGKILL for what does not exit,
// whole process groups, so nothing is orphaned.
package lab
