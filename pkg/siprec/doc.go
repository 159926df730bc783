// Package siprec owns arlab's SIPREC payload handling for both ends of a
// recording session: the RFC 7865 recording metadata model (parse, marshal,
// validate, merge partial updates) and the RFC 7866 multipart/mixed INVITE
// body (SDP + metadata part).
//
// The media server (SRC role) uses BuildMetadata, AddParty/RemoveParty,
// Marshal and BuildBody to describe what it streams. The recorder (SRS role)
// uses ParseBody, ParseMetadata, Merge and Validate/CheckLabels; parsing is
// deliberately tolerant because real recording clients send draft-era
// namespaces and attributes (<participant id=...>, <send> inside
// <participant>), vendor extension elements, non-base64 ids, zone-less
// times, missing labels and the pre-RFC 9806 media type
// application/rs-metadata. Tolerated deviations are reported as Warnings,
// never silently dropped, and unknown elements are kept verbatim in
// Metadata.Extensions.
//
// Security: metadata is untrusted input. Documents larger than
// MaxMetadataSize are refused, any DTD or entity declaration is refused
// (ErrEntity) and encoding/xml never expands external entities.
package siprec
