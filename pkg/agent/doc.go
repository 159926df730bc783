// Package agent is the T-lib client side of `arlab agent`: a terminal agent
// desktop (call events as they arrive, commands typed at a prompt, recording
// control and supervisor monitoring included), non-interactive one-shot
// requests for scripts (release, recording start/stop/pause/resume,
// monitor and cancel), and a small rule-based router for routing points
// (match ANI/DNIS patterns, every Nth call, attach user data, choose the
// target and the route extensions). It talks to any T-lib server (the arlab
// SIP Server) through package tlib; nothing here knows about SIP.
package agent
