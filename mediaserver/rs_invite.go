package mediaserver

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/msml"
	"github.com/arlab/arlab/pkg/sdp"
	"github.com/arlab/arlab/pkg/siprec"
	"github.com/arlab/arlab/pkg/sipx"
)

// buildInvite builds the initial INVITE of a new dialog (first attempt or
// re-establishment): SIPREC multipart with a complete metadata snapshot, or
// the Genesys form with the call context in the Request-URI.
func (rs *recSession) buildInvite() (*sip.Request, error) {
	// Gathered before rs.mu: the lock order is conference, recording, session.
	laws := rs.r.partyLaws()
	rs.mu.Lock()
	cont := rs.continuation
	rs.mu.Unlock()
	callData := rs.r.callData(cont)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.mlines = nil
	for _, st := range rs.streams {
		if !st.p.left {
			rs.mlines = append(rs.mlines, st)
		}
	}
	rs.sigPaused = rs.wantPaused
	rs.offer = nil
	offer := rs.buildOfferLocked(rs.wantPaused, laws)
	rs.offer = offer
	rs.callID = sip.GenerateTagN(24) + "@" + rs.srv.advertise.String()
	r := rs.r

	var (
		uri  sip.Uri
		ct   string
		body []byte
	)
	if rs.d.mode == msml.ModeSIPREC {
		uri = *rs.d.sipURI.Clone()
		parties := make([]siprec.RecordingParty, 0, len(rs.mlines))
		for _, st := range rs.mlines {
			parties = append(parties, r.recordingParty(st.p))
		}
		rs.md = siprec.BuildMetadata(r.sipSessionID, parties, callData, time.Now())
		xml, err := rs.md.Marshal()
		if err != nil {
			return nil, err
		}
		ct, body = siprec.BuildBody(offer.Marshal(), xml)
	} else {
		rs.md = nil
		uri = rs.genesysURILocked()
		ct, body = "application/sdp", offer.Marshal()
	}
	transport := r.params.Transport
	if !strings.EqualFold(uri.Scheme, "sips") && transport != "udp" {
		if uri.UriParams == nil {
			uri.UriParams = sip.NewParams()
		}
		uri.UriParams.Add("transport", transport)
	}

	req := sip.NewRequest(sip.INVITE, uri)
	from := &sip.FromHeader{Address: sip.Uri{User: rs.srv.cfg.Name, Host: rs.srv.advertise.String()}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: uri.Scheme, User: uri.User, Host: uri.Host, Port: uri.Port}, Params: sip.NewParams()})
	cid := sip.CallIDHeader(rs.callID)
	req.AppendHeader(&cid)
	ctc := rs.contact()
	req.AppendHeader(&ctc)
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	if rs.d.mode == msml.ModeSIPREC {
		req.AppendHeader(sip.NewHeader("Require", "siprec"))
		req.AppendHeader(sip.NewHeader("Accept", "application/sdp, "+siprec.ContentTypeMetadata))
	}
	if r.params.CallUUID != "" {
		req.AppendHeader(sip.NewHeader("X-Genesys-CallUUID", r.params.CallUUID))
	}
	req.AppendHeader(sip.NewHeader("Content-Type", ct))
	req.SetBody(body)
	req.SetTransport(sipx.ViaTransport(transport))
	if rm := rs.srv.cfg.ResourceManager; rm != "" && !rs.d.direct {
		req.SetDestination(rm)
	}
	return req, nil
}

// genesysURILocked is sip:record=<id>@host;calluuid=...;dn=...;otherDN=...;recordDN=...
// (genesys-msr.md 4.2): dn is the first stream's party, otherDN the other
// party of the call.
func (rs *recSession) genesysURILocked() sip.Uri {
	r := rs.r
	src := rs.d.sipURI
	u := sip.Uri{Scheme: src.Scheme, User: "record=" + r.id, Host: src.Host, Port: src.Port, UriParams: sip.NewParams()}
	set := func(k, v string) {
		if v != "" {
			u.UriParams.Add(k, v)
		}
	}
	p := r.params
	dn, other := "", ""
	if len(rs.mlines) > 0 {
		dn = rs.mlines[0].p.dn
	}
	if len(rs.mlines) > 1 {
		other = rs.mlines[1].p.dn
	} else if dn == p.RecordDN {
		other = p.OtherDN
	} else {
		other = p.RecordDN
	}
	set("calluuid", p.CallUUID)
	set("connid", p.ConnID)
	set("dn", dn)
	set("otherDN", other)
	set("recordDN", p.RecordDN)
	if p.Prerecord {
		set("prerecord", "true")
	}
	if rs.continuation {
		set("continuation", "true")
	}
	for _, kv := range src.UriParams {
		if !u.UriParams.Has(kv.K) {
			u.UriParams.Add(kv.K, kv.V)
		}
	}
	return u
}

// buildOfferLocked describes the current m-lines: one sendonly audio stream
// per recorded party with its label (inactive while paused in
// reinvite-inactive mode; port 0 for a party that left).
func (rs *recSession) buildOfferLocked(paused bool, laws map[string]audio.Law) *sdp.Session {
	adv := rs.srv.advertise
	dir := sdp.SendOnly
	if paused && rs.srv.cfg.PauseMode == PauseReinviteInactive {
		dir = sdp.Inactive
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	s := &sdp.Session{
		Origin: sdp.Origin{Username: "arlab-ms", SessionID: binary.BigEndian.Uint64(b[:]) >> 1, SessionVersion: 1, Addr: adv},
		Name:   "arlab recording",
		Addr:   adv,
	}
	for _, st := range rs.mlines {
		codec := sdp.PCMU
		if laws[st.p.dn] == audio.Alaw {
			codec = sdp.PCMA
		}
		m := sdp.Media{
			Type: "audio", Port: int(st.local.Port()), Proto: sdp.ProtoRTP,
			Codecs:    []sdp.Codec{codec, sdp.TelephoneEvent},
			Direction: dir, Label: st.p.label, Addr: adv, Ptime: sdp.DefaultPtime,
		}
		if st.p.left {
			m.Port = 0
		}
		if st.key != nil {
			m.Proto = sdp.ProtoSRTP
			m.Crypto = []sdp.Crypto{*st.key}
		}
		s.Media = append(s.Media, m)
	}
	if rs.offer != nil {
		s.Follow(rs.offer)
	}
	return s
}

// partyLaws returns the G.711 law each leg of the conference negotiated.
func (r *recording) partyLaws() map[string]audio.Law {
	c := r.conf
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]audio.Law, len(c.legs))
	for _, l := range c.legs {
		out[l.dn] = l.law()
	}
	return out
}

// recordingParty describes a party for the metadata.
func (r *recording) recordingParty(p *party) siprec.RecordingParty {
	return siprec.RecordingParty{AOR: "sip:" + p.dn + "@" + r.srv.advertise.String(), Name: p.dn, Label: p.label}
}

// callData is the Genesys call context carried in the metadata extension.
func (r *recording) callData(continuation bool) siprec.CallData {
	p := r.params
	r.mu.Lock()
	var dns []string
	for _, pt := range r.parties {
		if !pt.left {
			dns = append(dns, pt.dn)
		}
	}
	r.mu.Unlock()
	return siprec.CallData{
		CallUUID: p.CallUUID, ConnID: p.ConnID, RecordDN: p.RecordDN, OtherDN: p.OtherDN,
		RecordingID: r.id, Prerecord: p.Prerecord, Continuation: continuation, DNs: dns,
	}
}

// activeDests counts the destinations currently recording.
func (r *recording) activeDests() int {
	r.mu.Lock()
	dests := r.dests
	r.mu.Unlock()
	n := 0
	for _, d := range dests {
		if d.file != nil {
			n++
			continue
		}
		for _, rs := range d.sessions {
			rs.mu.Lock()
			up := rs.up
			rs.mu.Unlock()
			if up {
				n++
				break
			}
		}
	}
	return n
}
