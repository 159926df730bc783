package recorder

import (
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/sdp"
	"github.com/arlab/arlab/pkg/siprec"
	"github.com/arlab/arlab/pkg/sipx"
)

// supportedRequire are the option tags a Require header may name. Anything else gets 420.
var supportedRequire = map[string]bool{"siprec": true}

// inviteBody is what a (re-)INVITE or UPDATE carries, parsed.
type inviteBody struct {
	offer    *sdp.Session // nil: no SDP
	metadata []byte       // raw metadata part, nil if none
	metaType string
	md       *siprec.Metadata
	warnings []string
}

// statusErr builds a sipx.StatusError whose reason phrase explains the refusal.
func statusErr(code int, reason string, err error) error {
	se := &sipx.StatusError{Code: code, Reason: reason, Err: err}
	if err != nil {
		se.Warning = err.Error()
	}
	return se
}

// unsupportedRequire returns the option tags of the Require headers we do not support.
func unsupportedRequire(req *sip.Request) (unsupported []string, siprecRequired bool) {
	for _, h := range req.GetHeaders("Require") {
		for _, tag := range strings.Split(h.Value(), ",") {
			tag = strings.ToLower(strings.TrimSpace(tag))
			if tag == "" {
				continue
			}
			if tag == "siprec" {
				siprecRequired = true
			}
			if !supportedRequire[tag] {
				unsupported = append(unsupported, tag)
			}
		}
	}
	return unsupported, siprecRequired
}

// contactIsSRC reports whether the Contact carries the +sip.src feature tag (RFC 7866).
func contactIsSRC(req *sip.Request) bool {
	c := req.Contact()
	return c != nil && c.Params.Has("+sip.src")
}

// parseInviteBody parses the body of a request by its Content-Type: multipart/mixed
// (SIPREC: SDP + metadata), application/sdp, or a bare metadata document (an UPDATE that
// only updates metadata). A missing body gives an empty inviteBody.
func parseInviteBody(req *sip.Request) (*inviteBody, error) {
	body := req.Body()
	out := &inviteBody{}
	if len(body) == 0 {
		return out, nil
	}
	if len(body) > siprec.MaxBodySize {
		return nil, statusErr(413, "Request Entity Too Large (body over 1 MiB)",
			fmt.Errorf("body of %d bytes exceeds %d", len(body), siprec.MaxBodySize))
	}
	ctHdr := req.ContentType()
	if ctHdr == nil {
		return nil, statusErr(400, "Bad Request (body without Content-Type)", errors.New("body without Content-Type"))
	}
	ct := ctHdr.Value()
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(strings.SplitN(ct, ";", 2)[0]))
	}
	var sdpBytes []byte
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		b, err := siprec.ParseBody(ct, body)
		switch {
		case err == nil:
		case errors.Is(err, siprec.ErrNoSDP) && b != nil && b.Metadata != nil:
			// A metadata-only update (RFC 7866 6.3): fine for re-INVITE/UPDATE; an initial
			// INVITE without offer is refused by the caller.
		case errors.Is(err, siprec.ErrTooLarge):
			return nil, statusErr(413, "Request Entity Too Large", err)
		case errors.Is(err, siprec.ErrNoSDP):
			return nil, statusErr(488, "Not Acceptable Here (multipart body has no SDP part)", err)
		default:
			return nil, statusErr(400, "Bad Request (unreadable multipart body)", err)
		}
		sdpBytes, out.metadata, out.metaType = b.SDP, b.Metadata, b.MetadataType
		out.warnings = append(out.warnings, b.Warnings...)
	case mt == siprec.ContentTypeSDP:
		sdpBytes = body
	case mt == siprec.ContentTypeMetadata || mt == siprec.ContentTypeMetadataLegacy:
		out.metadata, out.metaType = body, mt
	default:
		return nil, statusErr(415, "Unsupported Media Type (want multipart/mixed with SDP and rs-metadata, or application/sdp)",
			fmt.Errorf("content type %q", mt))
	}
	if sdpBytes != nil {
		offer, err := sdp.Parse(sdpBytes)
		if err != nil {
			return nil, statusErr(488, "Not Acceptable Here (unreadable SDP)", err)
		}
		out.offer = offer
	}
	if out.metadata != nil {
		md, err := siprec.ParseMetadata(out.metadata)
		switch {
		case errors.Is(err, siprec.ErrEntity):
			return nil, statusErr(400, "Bad Request (metadata with DTD or entity declarations refused)", err)
		case errors.Is(err, siprec.ErrTooLarge):
			return nil, statusErr(413, "Request Entity Too Large (metadata over 256 KiB)", err)
		case err != nil:
			// Recording matters more than metadata: keep the raw document, record the problem.
			out.warnings = append(out.warnings, "metadata not readable, kept as received: "+err.Error())
		default:
			out.md = md
			out.warnings = append(out.warnings, md.Warnings...)
		}
		if out.metaType == siprec.ContentTypeMetadataLegacy {
			out.warnings = append(out.warnings, "metadata sent as application/rs-metadata (RFC 7866 spelling; RFC 9806 uses application/rs-metadata+xml)")
		}
	}
	return out, nil
}

// srsCodecs is what the recorder can decode, in preference order.
var srsCodecs = []sdp.Codec{sdp.PCMU, sdp.PCMA, sdp.TelephoneEvent, {PayloadType: 13, Name: "CN", ClockRate: 8000, Channels: 1}}

// answerOptions returns the answer options for one stream.
func (r *Recorder) answerOptions(port int) sdp.AnswerOptions {
	return sdp.AnswerOptions{
		Addr:        r.advertise,
		Port:        port,
		Codecs:      srsCodecs,
		Direction:   sdp.RecvOnly,
		SRTP:        r.cfg.SRTP != SRTPOff,
		RequireSRTP: r.cfg.SRTP == SRTPRequire,
		Username:    "arlab-srs",
	}
}

// refusedMedia is the answer to an m-line we do not record: same type and formats, port 0.
func refusedMedia(m sdp.Media) sdp.Media {
	return sdp.Media{Type: m.Type, Port: 0, Proto: m.Proto, Codecs: m.Codecs, Formats: m.Formats,
		Direction: sdp.Inactive, Label: m.Label}
}

// reasonForSDP maps an answer failure to a 488 reason phrase.
func reasonForSDP(err error) string {
	switch {
	case errors.Is(err, sdp.ErrNoCommonCodec):
		return "Not Acceptable Here (no common codec: PCMU or PCMA required)"
	case errors.Is(err, sdp.ErrSRTPRequired):
		return "Not Acceptable Here (RTP/SAVP offered but SRTP is off)"
	case errors.Is(err, sdp.ErrSRTPNotOffered):
		return "Not Acceptable Here (SRTP required, RTP/AVP offered)"
	case errors.Is(err, sdp.ErrBadCrypto):
		return "Not Acceptable Here (no usable a=crypto)"
	case errors.Is(err, sdp.ErrUnsupportedProto):
		return "Not Acceptable Here (unsupported media transport)"
	case errors.Is(err, sdp.ErrNoMedia):
		return "Not Acceptable Here (no audio stream to record)"
	}
	return "Not Acceptable Here (unusable SDP)"
}

// codecMap turns an answered m-line's codecs into the timeline's payload map.
func codecMap(m sdp.Media) map[uint8]string {
	out := make(map[uint8]string, len(m.Codecs))
	for _, c := range m.Codecs {
		out[c.PayloadType] = c.Name
	}
	return out
}

// retryAfter is what a 503 for a full recorder asks the SRC (or the resource manager) to wait.
const retryAfter = 5 * time.Second
