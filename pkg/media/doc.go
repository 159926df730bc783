// Package media owns the lab's RTP plumbing: a Session sends and receives one RTP (or SDES-SRTP) stream over a
// UDP socket with an allocation-free hot path, a Receiver keeps RFC 3550 statistics (loss, reordering,
// duplicates, interarrival jitter) for a received stream, and a Stream paces G.711 audio from a Source out of
// a Session while recording what it receives on a timeline placed by RTP timestamp, with RFC 4733 DTMF both
// ways. The phone, the media server, the recorder and the load tools all build on it; nothing here knows SIP.
package media
