// Package recorder is the lab's third-party recorder: a SIPREC recording server (SRS, RFC 7866)
// that also accepts the Genesys MSR form, ingests RTP/SRTP per stream, writes timeline-true
// multi-channel WAV files, stores RFC 7865 metadata next to the audio, indexes recordings in
// SQLite and serves search and retrieval over HTTP. It is a T-lib client for call data and for
// keeping tentative pre-recordings.
//
// The package owns, per recording, the directory
// <data>/recordings/<yyyy>/<mm>/<dd>/<id>/ with audio.wav, metadata.xml and recording.json,
// the SQLite index <data>/index.db, the SIP listeners, the RTP port range and the HTTP API.
//
// Layers, bottom up: store (layout + index), timeline (RTP timestamps to one clock, WAV output),
// recovery, HTTP API, SIP SRS, T-lib join, live analysis. Recorder ties them together.
package recorder
