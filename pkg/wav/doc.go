// Package wav owns arlab's on-disk audio format: a streaming, crash-safe
// multi-channel RIFF/WAVE writer (linear PCM16, G.711 A-law and µ-law),
// header repair for recordings whose writer died, and a tolerant reader used
// by tests and tools to check what was recorded.
//
// The writer keeps the file a valid WAV after every Flush: it appends audio
// and then patches the RIFF, data (and, for G.711, fact) sizes in place, so a
// process killed after a Flush leaves a file any player opens. Data written
// after the last Flush is recovered by Repair, which recomputes the sizes from
// the file length and drops a partial trailing frame.
//
// Layout written (all little endian):
//
//	PCM16:  RIFF | WAVE | fmt (16 bytes)                    | data   → 44-byte header
//	G.711:  RIFF | WAVE | fmt (18 bytes, cbSize=0) | fact   | data   → 58-byte header
//
// Non-PCM formats carry the cbSize field and a fact chunk (sample frames per
// channel) because the WAVEFORMATEX rules require them and strict players
// (Windows ACM, sox) look for them.
package wav
