// Package load owns arlab's load engine behind `arlab load`: it drives many
// concurrent recorded calls, measures their setup latency and failures, and
// afterwards proves from the recorders' own records that nothing was lost. It
// also reports what the load cost every service process (CPU seconds, peak
// RSS), so the lab's capacity can be measured against its targets.
//
// # Modes
//
// ModeRecorder: the engine is a SIPREC recording client (SRC, RFC 7866) itself.
// Each call is one recording session: a multipart INVITE with an SDP offer of
// two labelled sendonly streams (customer and agent) and RFC 7865 metadata
// carrying a CallUUID, sent to a recorder or to the Resource Manager; then RTP
// for both streams for Config.Hold, then BYE. It needs no SIP Server.
//
// ModeLab (designed, not implemented yet): customer calls through the SIP
// Server to agent DNs that auto-answer and are recorded full time; it adds the
// answer-to-first-recorded-packet latency. Config.Validate refuses it with
// ErrLabMode until the SIP Server's recording decisions land.
//
// # Media
//
// All RTP of a run comes from one Generator: one scheduler goroutine, on an
// OS thread of its own, paces every stream on a 20 ms wheel of 2 ms slots and
// hands each slot's packets to a few shared UDP sockets with sendmmsg
// (golang.org/x/net/ipv4 WriteBatch), so thousands of streams cost a few
// goroutines and a few system calls per tick. Each stream has its own SSRC,
// sequence and timestamp spaces; its G.711 payload is the party's lab tone
// (pkg/audio.ToneForDN), precomputed once per frequency: the lab tones are
// multiples of 50 Hz, so one 20 ms frame repeats exactly and sending costs no
// encoding. Packets received on the shared sockets are demultiplexed by
// source address. The per-packet path allocates nothing.
//
// # Cost accounting
//
// The report gives, per process (the engine itself and Config.Processes),
// CPU seconds and RSS from /proc/<pid>/stat and status over the calls (not the
// verification), the generator thread's own CPU, and the whole machine's busy
// and stolen CPU from /proc/stat, so a figure taken while other work shared
// the cores shows it.
//
// # Verification
//
// With recorder API URLs (Config.Recorders) the engine looks up every
// recording of the run by CallUUID after the last BYE: recordings complete
// versus calls established, and per recorded stream the packets the recorder
// wrote (its channel statistics: accepted minus late) against the packets sent.
// It downloads a sample of recordings and checks each channel carries its
// party's tone and nothing else (pkg/recclient.VerifyTones).
package load
