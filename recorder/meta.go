package recorder

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/siprec"
)

// genesysContext is the call context the Genesys MSR form carries in the Request-URI:
// sip:record=<id>@recorder;calluuid=...;dn=...;otherDN=...;recordDN=...
type genesysContext struct {
	RecordingID string
	CallUUID    string
	ConnID      string
	DN          string
	OtherDN     string
	RecordDN    string
	Prerecord   bool
}

// parseGenesysURI extracts the Genesys MSR call context; ok is false when the Request-URI
// is not of that form (no record= user and no calluuid parameter).
func parseGenesysURI(u sip.Uri) (genesysContext, bool) {
	var g genesysContext
	user := u.User
	if unescaped, err := url.PathUnescape(user); err == nil {
		user = unescaped
	}
	if id, ok := strings.CutPrefix(strings.ToLower(user), "record="); ok {
		g.RecordingID = user[len(user)-len(id):]
	}
	for _, kv := range u.UriParams {
		v := kv.V
		if unescaped, err := url.PathUnescape(v); err == nil { // not QueryUnescape: "+" is a digit prefix here
			v = unescaped
		}
		switch strings.ToLower(kv.K) {
		case "calluuid":
			g.CallUUID = v
		case "connid":
			g.ConnID = v
		case "dn":
			g.DN = v
		case "otherdn":
			g.OtherDN = v
		case "recorddn":
			g.RecordDN = v
		case "prerecord":
			g.Prerecord = v == "" || strings.EqualFold(v, "true") || v == "1"
		case "record":
			if g.RecordingID == "" {
				g.RecordingID = v
			}
		}
	}
	if g.RecordingID == "" && g.CallUUID == "" {
		return g, false
	}
	return g, true
}

// applyGenesys fills a recording from the Genesys context; labels are the m-line order:
// the first stream is DN's, the second otherDN's.
func applyGenesys(rec *Recording, g genesysContext) {
	rec.SRCRecordID = g.RecordingID
	rec.CallUUID = g.CallUUID
	rec.ConnID = g.ConnID
	rec.RecordDN = g.RecordDN
	if rec.RecordDN == "" {
		rec.RecordDN = g.DN
	}
	rec.OtherDN = g.OtherDN
	rec.DNs = appendUniq(rec.DNs, g.DN, g.OtherDN, g.RecordDN)
	rec.Prerecord = rec.Prerecord || g.Prerecord
	rec.Participants = nil
	for _, dn := range []string{g.DN, g.OtherDN} {
		if dn == "" {
			continue
		}
		rec.Participants = append(rec.Participants, Participant{ID: dn, AOR: dn, Send: []string{dn}})
	}
}

// genesysLabel is the label given to m-line i of a Genesys-mode INVITE (which has none).
func genesysLabel(g genesysContext, i int) string {
	switch {
	case i == 0 && g.DN != "":
		return g.DN
	case i == 1 && g.OtherDN != "":
		return g.OtherDN
	}
	return fmt.Sprintf("stream%d", i)
}

// applyMetadata normalises SIPREC metadata into the recording: participants (with the
// labels of what they send and receive), call data, DNs and warnings. The metadata is a
// complete snapshot (after merging partial updates).
func applyMetadata(rec *Recording, md *siprec.Metadata) {
	labelOf := map[string]string{}
	for _, s := range md.Streams {
		l := s.Label
		if l == "" {
			l = s.ID
		}
		labelOf[s.ID] = l
	}
	labels := func(ids []string) []string {
		var out []string
		for _, id := range ids {
			if l, ok := labelOf[id]; ok {
				out = append(out, l)
			} else {
				out = append(out, id)
			}
		}
		return out
	}
	rec.Participants = rec.Participants[:0]
	for _, p := range md.Participants {
		np := Participant{ID: p.ID, AOR: p.AOR, Name: p.Name, Send: labels(p.Send), Recv: labels(p.Recv)}
		for _, a := range md.ParticipantSessionAssocs {
			if a.ParticipantID == p.ID {
				np.Associated = a.AssociateTime
				np.Disassociate = a.DisassociateTime
			}
		}
		rec.Participants = append(rec.Participants, np)
		if dn := aorUser(p.AOR); dn != "" {
			rec.DNs = appendUniq(rec.DNs, dn)
		}
	}
	if cd := md.CallData; cd != nil {
		setIf(&rec.CallUUID, cd.CallUUID)
		setIf(&rec.ConnID, cd.ConnID)
		setIf(&rec.RecordDN, cd.RecordDN)
		setIf(&rec.OtherDN, cd.OtherDN)
		setIf(&rec.AgentID, cd.AgentID)
		setIf(&rec.SRCRecordID, cd.RecordingID)
		rec.Prerecord = rec.Prerecord || cd.Prerecord
		rec.DNs = appendUniq(rec.DNs, cd.RecordDN, cd.OtherDN)
		rec.DNs = appendUniq(rec.DNs, cd.DNs...)
		for k, v := range cd.Extra {
			switch strings.ToLower(k) {
			case "ani":
				setIf(&rec.ANI, v)
			case "dnis":
				setIf(&rec.DNIS, v)
			}
		}
	}
	if rec.CallUUID == "" {
		// AudioCodes copies the Genesys X-Genesys-CallUUID into <GenesysUUID> in the
		// urn:ietf:params:xml:ns:Genesys namespace; other vendors use similar names.
		for _, e := range md.Extensions {
			if n := strings.ToLower(e.Name); n == "genesysuuid" || n == "calluuid" {
				if v := strings.TrimSpace(string(e.Inner)); v != "" && !strings.Contains(v, "<") {
					rec.CallUUID = v
					break
				}
			}
		}
	}
}

// labelChannels maps the streams of the metadata onto the recording's channels (by SDP
// label) and returns warnings for inconsistencies between SDP and metadata.
func labelChannels(chans []ChannelInfo, md *siprec.Metadata) (out []ChannelInfo, warnings []string) {
	out = append([]ChannelInfo(nil), chans...)
	if md == nil {
		return out, nil
	}
	byLabel := map[string]siprec.Stream{}
	for _, s := range md.Streams {
		if s.Label != "" {
			byLabel[s.Label] = s
		}
	}
	sender := map[string]siprec.Participant{}
	for _, p := range md.Participants {
		for _, id := range p.Send {
			sender[id] = p
		}
	}
	used := map[string]bool{}
	for i := range out {
		c := &out[i]
		s, ok := byLabel[c.Label]
		if !ok {
			if c.Label == "" {
				warnings = append(warnings, fmt.Sprintf("SDP m-line of channel %d has no a=label", c.Index))
			} else {
				warnings = append(warnings, fmt.Sprintf("SDP label %q has no <stream> in the metadata", c.Label))
			}
			continue
		}
		used[s.ID] = true
		c.StreamID = s.ID
		if p, ok := sender[s.ID]; ok {
			c.ParticipantID, c.AOR, c.Name = p.ID, p.AOR, p.Name
		} else {
			warnings = append(warnings, fmt.Sprintf("no participant sends stream %q (label %q)", s.ID, c.Label))
		}
	}
	for _, s := range md.Streams {
		if !used[s.ID] && s.Label != "" {
			warnings = append(warnings, fmt.Sprintf("metadata stream %q (label %q) has no SDP m-line", s.ID, s.Label))
		}
	}
	return out, warnings
}

// aorUser returns the user part of a SIP/SIPS/tel URI ("+15551234567" from
// sip:+15551234567@ims.example;user=phone or tel:+15551234567).
func aorUser(aor string) string {
	a := strings.TrimSpace(aor)
	a = strings.TrimPrefix(strings.TrimSuffix(a, ">"), "<")
	lower := strings.ToLower(a)
	for _, scheme := range []string{"sips:", "sip:", "tel:"} {
		if strings.HasPrefix(lower, scheme) {
			a = a[len(scheme):]
			break
		}
	}
	if i := strings.IndexAny(a, "@;?"); i >= 0 {
		a = a[:i]
	}
	if len(a) > 64 {
		return ""
	}
	return a
}

func setIf(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

func appendUniq(list []string, vs ...string) []string {
	for _, v := range vs {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		dup := false
		for _, x := range list {
			if x == v {
				dup = true
				break
			}
		}
		if !dup {
			list = append(list, v)
		}
	}
	return list
}
