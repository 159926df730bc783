// Package audio owns the lab's audio primitives: G.711 (µ-law and A-law) coding into caller buffers, the
// deterministic per-party test tones that make every party in the lab verifiable, and the analyser (Goertzel,
// energy, frame segmentation) that tests and the recorder use to prove which party is heard where, and that
// paused or held spans are silent.
//
// Everything here is 8 kHz narrow-band audio with 16-bit linear samples, the only format that flows through
// the lab's G.711 RTP streams.
package audio

const (
	// SampleRate is the sample rate of every G.711 stream in the lab, in Hz.
	SampleRate = 8000
	// FrameSamples is the number of samples in one 20 ms frame, the lab's packetisation interval and the
	// granularity of Segments.
	FrameSamples = 160
)
