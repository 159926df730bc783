package siprec

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// draftRamNamespace is the namespace of the 2011 draft-ram-siprec-metadata
// format (root <recording_metadata>), still emitted by some BroadWorks builds.
const draftRamNamespace = "urn:ietf:params:xml:ns:siprec"

// xmlLangSpace is the namespace encoding/xml gives the xml: prefix.
const xmlLangSpace = "http://www.w3.org/XML/1998/namespace"

// canonical maps a lower-cased RFC 7865 element name to its spelling.
var canonical = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{
		"datamode",
		"group",
		"session",
		"participant",
		"stream",
		"sessionrecordingassoc",
		"participantsessionassoc",
		"participantstreamassoc",
		"associate-time",
		"disassociate-time",
		"sipSessionID",
		"group-ref",
		"start-time",
		"stop-time",
		"nameID",
		"name",
		"aor",
		"send",
		"recv",
		"label",
	} {
		m[strings.ToLower(n)] = n
	}
	return m
}()

// ParseMetadata parses an RFC 7865 metadata document tolerantly (see the
// package documentation). It fails only on oversize input (ErrTooLarge), DTD
// or entity declarations (ErrEntity) and input that is not a well-formed XML
// document rooted at <recording> (ErrMalformed).
func ParseMetadata(b []byte) (*Metadata, error) {
	if len(b) > MaxMetadataSize {
		return nil, fmt.Errorf("%w: metadata of %d bytes (max %d)", ErrTooLarge, len(b), MaxMetadataSize)
	}
	p := &parser{m: &Metadata{}, seen: map[string]bool{}}
	src, err := p.toUTF8(b)
	if err != nil {
		return nil, err
	}
	p.src = src
	p.d = xml.NewDecoder(bytes.NewReader(src))
	// toUTF8 already converted any encoding it accepts; the declaration
	// still names the original charset, so hand the bytes through as is.
	p.d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	if err := p.document(); err != nil {
		return nil, err
	}
	p.finish()
	return p.m, nil
}

type parser struct {
	src  []byte
	d    *xml.Decoder
	m    *Metadata
	seen map[string]bool // warnings already emitted

	// Draft-era facts written on <participant> rather than in associations.
	draftPSA  []ParticipantSessionAssoc
	draftSend map[string][]string
	draftRecv map[string][]string
}

func (p *parser) warn(format string, args ...any) {
	w := fmt.Sprintf(format, args...)
	if !p.seen[w] {
		p.seen[w] = true
		p.m.Warnings = append(p.m.Warnings, w)
	}
}

var encodingRE = regexp.MustCompile(`^\s*<\?xml[^>]*?encoding\s*=\s*["']([^"']+)["']`)

// toUTF8 strips a UTF-8 BOM and converts Latin-1 documents (some SBCs
// declare ISO-8859-1) to UTF-8; other non-UTF-8 encodings are refused.
func (p *parser) toUTF8(b []byte) ([]byte, error) {
	b = bytes.TrimPrefix(b, []byte("\xEF\xBB\xBF"))
	head := b[:min(len(b), 200)]
	m := encodingRE.FindSubmatch(head)
	if m == nil {
		return b, nil
	}
	switch label := strings.ToLower(string(m[1])); label {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return b, nil
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "windows-1252", "cp1252":
		if utf8.Valid(b) && !bytes.ContainsFunc(b, func(r rune) bool { return r >= 0x80 }) {
			return b, nil // pure ASCII: nothing to convert
		}
		p.warn("document declared %q: converted from Latin-1", m[1])
		out := make([]byte, 0, len(b)+len(b)/8)
		for _, c := range b {
			out = utf8.AppendRune(out, rune(c))
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%w: unsupported encoding %q", ErrMalformed, m[1])
	}
}

// token reads the next token, mapping decoder errors and rejecting DTDs.
func (p *parser) token() (xml.Token, error) {
	tok, err := p.d.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: unexpected end of document", ErrMalformed)
		}
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if dir, ok := tok.(xml.Directive); ok {
		return nil, fmt.Errorf("%w: <!%s>", ErrEntity, truncate(string(dir), 40))
	}
	return tok, nil
}

func (p *parser) document() error {
	for {
		tok, err := p.d.Token()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: no root element", ErrMalformed)
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return fmt.Errorf("%w: <!%s>", ErrEntity, truncate(string(t), 40))
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return fmt.Errorf("%w: text before the root element", ErrMalformed)
			}
		case xml.StartElement:
			if err := p.root(t); err != nil {
				return err
			}
			return p.trailer()
		}
	}
}

// trailer checks what follows the root element: a DTD is refused, anything
// else is ignored with a warning.
func (p *parser) trailer() error {
	for {
		tok, err := p.d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			p.warn("garbage after the root element ignored")
			return nil
		}
		switch t := tok.(type) {
		case xml.Directive:
			return fmt.Errorf("%w: <!%s>", ErrEntity, truncate(string(t), 40))
		case xml.StartElement:
			p.warn("content after the root element ignored")
			return nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				p.warn("text after the root element ignored")
				return nil
			}
		}
	}
}

func (p *parser) root(se xml.StartElement) error {
	switch strings.ToLower(se.Name.Local) {
	case "recording":
	case "recording_metadata", "recording-metadata":
		p.warn("draft-era root element <%s>", se.Name.Local)
	default:
		return fmt.Errorf("%w: root element <%s> is not <recording>", ErrMalformed, se.Name.Local)
	}
	switch se.Name.Space {
	case Namespace:
	case LegacyNamespace, draftRamNamespace:
		p.warn("draft-era namespace %q", se.Name.Space)
	case "":
		p.warn("no namespace on <%s>", se.Name.Local)
	default:
		p.warn("unexpected namespace %q on <%s>", se.Name.Space, se.Name.Local)
	}
	return p.children(func(c xml.StartElement) error {
		if c.Name.Space == ExtNamespace && strings.EqualFold(c.Name.Local, "callData") {
			return p.callData(c)
		}
		switch p.rfcName(c.Name) {
		case "datamode":
			v, err := p.text()
			if err != nil {
				return err
			}
			p.m.DataMode = strings.ToLower(v) // Validate reports unknown values
			return nil
		case "group":
			return p.group(c)
		case "session":
			return p.session(c)
		case "participant":
			return p.participant(c)
		case "stream":
			return p.stream(c)
		case "sessionrecordingassoc":
			return p.sessionRecordingAssoc(c)
		case "participantsessionassoc":
			return p.participantSessionAssoc(c)
		case "participantstreamassoc":
			return p.participantStreamAssoc(c)
		default:
			return p.extension(c, "recording", "")
		}
	})
}

// isRecordingSpace reports whether elements in space are read as RFC 7865
// elements: the RFC namespace, the draft ones, and none at all.
func isRecordingSpace(space string) bool {
	return space == Namespace || space == LegacyNamespace || space == draftRamNamespace || space == ""
}

// rfcName returns the canonical RFC 7865 name of n, or "" if n is not an
// RFC element. Names are matched case-insensitively (dataMode, nameId...).
func (p *parser) rfcName(n xml.Name) string {
	if !isRecordingSpace(n.Space) {
		return ""
	}
	c, ok := canonical[strings.ToLower(n.Local)]
	if !ok {
		return ""
	}
	if c != n.Local {
		p.warn("element <%s> read as <%s>", n.Local, c)
	}
	return c
}

// children calls fn for each child element of the element just opened; fn
// must consume the child entirely. It returns after the closing tag.
func (p *parser) children(fn func(xml.StartElement) error) error {
	for {
		tok, err := p.token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := fn(t); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		}
	}
}

// text returns the trimmed character data of the element just opened,
// skipping any nested elements.
func (p *parser) text() (string, error) {
	var sb strings.Builder
	for {
		tok, err := p.token()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			sb.Write(t)
		case xml.StartElement:
			if err := p.skip(); err != nil {
				return "", err
			}
		case xml.EndElement:
			return strings.TrimSpace(sb.String()), nil
		}
	}
}

// skip consumes the rest of the element just opened.
func (p *parser) skip() error {
	for depth := 0; ; {
		tok, err := p.token()
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			if depth == 0 {
				return nil
			}
			depth--
		}
	}
}

// maxExtensions bounds the extension elements kept from one document.
const maxExtensions = 4096

// extension records the element just opened verbatim and consumes it.
func (p *parser) extension(se xml.StartElement, parent, parentID string) error {
	if len(p.m.Extensions) >= maxExtensions {
		p.warn("more than %d extension elements; the rest are dropped", maxExtensions)
		return p.skip()
	}
	start := p.d.InputOffset()
	for depth := 0; ; {
		end := p.d.InputOffset()
		tok, err := p.token()
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			if depth > 0 {
				depth--
				continue
			}
			space := se.Name.Space
			if space != "" && !strings.Contains(space, ":") {
				// An unbound prefix, as in AudioCodes'
				// <ac:GenesysUUID xmlns="urn:ietf:params:xml:ns:Genesys">: the
				// vendor means the element's own default namespace.
				p.warn("undeclared prefix %q on <%s>", space, se.Name.Local)
				space = ""
				for _, a := range se.Attr {
					if a.Name.Space == "" && a.Name.Local == "xmlns" {
						space = a.Value
					}
				}
			}
			inner := make([]byte, end-start)
			copy(inner, p.src[start:end])
			p.m.Extensions = append(p.m.Extensions, RawElement{
				Parent: parent, ParentID: parentID,
				Space: space, Name: se.Name.Local,
				Attrs: append([]xml.Attr(nil), se.Attr...), Inner: inner,
			})
			return nil
		}
	}
}

// attr returns the value of the first attribute whose name matches one of
// names, ignoring case, '_' and '-' (session_id, sessionid, session-id).
func attr(se xml.StartElement, names ...string) (value, matched string, ok bool) {
	for _, want := range names {
		for _, a := range se.Attr {
			if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" {
				continue
			}
			if normAttr(a.Name.Local) == normAttr(want) {
				return strings.TrimSpace(a.Value), want, true
			}
		}
	}
	return "", "", false
}

// normAttr lower-cases s and drops '_' and '-'.
func normAttr(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || c == '-':
		case 'A' <= c && c <= 'Z':
			b = append(b, c+'a'-'A')
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

// idAttr reads the id attribute of an RFC element: the RFC name first, then
// draft-era names (which produce a warning).
func (p *parser) idAttr(se xml.StartElement, rfc string, draft ...string) string {
	if v, _, ok := attr(se, rfc); ok {
		return v
	}
	if v, name, ok := attr(se, draft...); ok {
		p.warn("draft-era attribute %q on <%s>", name, se.Name.Local)
		return v
	}
	p.warn("<%s> without %s", se.Name.Local, rfc)
	return ""
}

// setTime reads the element just opened as a time into dst.
func (p *parser) setTime(dst *time.Time, c xml.StartElement) error {
	s, err := p.text()
	if err != nil {
		return err
	}
	t, warning := parseTime(s)
	if warning != "" {
		p.warn("<%s>: %s", c.Name.Local, warning)
	}
	*dst = t
	return nil
}

func (p *parser) group(se xml.StartElement) error {
	g := Group{ID: p.idAttr(se, "group_id", "id")}
	err := p.children(func(c xml.StartElement) error {
		switch p.rfcName(c.Name) {
		case "associate-time":
			return p.setTime(&g.AssociateTime, c)
		case "disassociate-time":
			return p.setTime(&g.DisassociateTime, c)
		default:
			return p.extension(c, "group", g.ID)
		}
	})
	p.m.Groups = append(p.m.Groups, g)
	return err
}

func (p *parser) session(se xml.StartElement) error {
	s := Session{ID: p.idAttr(se, "session_id", "id")}
	err := p.children(func(c xml.StartElement) error {
		switch p.rfcName(c.Name) {
		case "sipSessionID":
			v, err := p.text()
			if err != nil {
				return err
			}
			if s.SIPSessionID == "" {
				s.SIPSessionID = v
			} else {
				p.warn("session %q: more than one <sipSessionID>; the first is kept", s.ID)
			}
			return nil
		case "group-ref":
			v, err := p.text()
			s.GroupRef = v
			return err
		case "start-time":
			return p.setTime(&s.StartTime, c)
		case "stop-time":
			return p.setTime(&s.StopTime, c)
		case "associate-time":
			p.warn("draft-era <associate-time> inside <session>")
			return p.setTime(&s.StartTime, c)
		case "disassociate-time":
			p.warn("draft-era <disassociate-time> inside <session>")
			return p.setTime(&s.StopTime, c)
		default:
			return p.extension(c, "session", s.ID)
		}
	})
	p.m.Sessions = append(p.m.Sessions, s)
	return err
}

func (p *parser) participant(se xml.StartElement) error {
	pt := Participant{ID: p.idAttr(se, "participant_id", "id")}
	var draft ParticipantSessionAssoc
	if v, _, ok := attr(se, "session", "session_id"); ok {
		p.warn("draft-era attribute %q on <participant>", "session")
		draft.SessionID = v
	}
	sawNameID := false
	err := p.children(func(c xml.StartElement) error {
		switch p.rfcName(c.Name) {
		case "nameID":
			if sawNameID {
				p.warn("participant %q: more than one <nameID>; the first is kept", pt.ID)
				return p.extension(c, "participant", pt.ID)
			}
			sawNameID = true
			pt.AOR, _, _ = attr(c, "aor")
			return p.children(func(n xml.StartElement) error {
				if p.rfcName(n.Name) != "name" || pt.Name != "" {
					return p.extension(n, "participant", pt.ID)
				}
				for _, a := range n.Attr {
					if a.Name.Space == xmlLangSpace && a.Name.Local == "lang" {
						pt.NameLang = a.Value
					}
				}
				v, err := p.text()
				pt.Name = v
				return err
			})
		case "aor":
			p.warn("draft-era <%s> directly inside <participant>", "aor")
			v, err := p.text()
			if pt.AOR == "" {
				pt.AOR = v
			}
			return err
		case "name":
			p.warn("draft-era <%s> directly inside <participant>", "name")
			v, err := p.text()
			if pt.Name == "" {
				pt.Name = v
			}
			return err
		case "send", "recv":
			name := p.rfcName(c.Name)
			p.warn("draft-era <%s> inside <participant>", name)
			v, err := p.text()
			if err != nil || v == "" {
				return err
			}
			if name == "send" {
				p.draftSend = addTo(p.draftSend, pt.ID, v)
			} else {
				p.draftRecv = addTo(p.draftRecv, pt.ID, v)
			}
			return nil
		case "associate-time":
			p.warn("draft-era <associate-time> inside <participant>")
			return p.setTime(&draft.AssociateTime, c)
		case "disassociate-time":
			p.warn("draft-era <disassociate-time> inside <participant>")
			return p.setTime(&draft.DisassociateTime, c)
		default:
			return p.extension(c, "participant", pt.ID)
		}
	})
	if draft.SessionID != "" {
		draft.ParticipantID = pt.ID
		p.draftPSA = append(p.draftPSA, draft)
	}
	p.m.Participants = append(p.m.Participants, pt)
	return err
}

func addTo(m map[string][]string, key, v string) map[string][]string {
	if m == nil {
		m = map[string][]string{}
	}
	m[key] = append(m[key], v)
	return m
}

func (p *parser) stream(se xml.StartElement) error {
	s := Stream{ID: p.idAttr(se, "stream_id", "id")}
	if v, _, ok := attr(se, "session_id"); ok {
		s.SessionID = v
	} else if v, _, ok := attr(se, "session"); ok {
		p.warn("draft-era attribute %q on <stream>", "session")
		s.SessionID = v
	}
	err := p.children(func(c xml.StartElement) error {
		if p.rfcName(c.Name) == "label" && s.Label == "" {
			v, err := p.text()
			s.Label = v
			return err
		}
		return p.extension(c, "stream", s.ID)
	})
	p.m.Streams = append(p.m.Streams, s)
	return err
}

func (p *parser) sessionRecordingAssoc(se xml.StartElement) error {
	a := SessionRecordingAssoc{SessionID: p.idAttr(se, "session_id", "session", "id")}
	err := p.children(func(c xml.StartElement) error {
		switch p.rfcName(c.Name) {
		case "associate-time":
			return p.setTime(&a.AssociateTime, c)
		case "disassociate-time":
			return p.setTime(&a.DisassociateTime, c)
		default:
			return p.extension(c, "sessionrecordingassoc", a.SessionID)
		}
	})
	p.m.SessionRecordingAssocs = append(p.m.SessionRecordingAssocs, a)
	return err
}

func (p *parser) participantSessionAssoc(se xml.StartElement) error {
	a := ParticipantSessionAssoc{
		ParticipantID: p.idAttr(se, "participant_id", "participant"),
		SessionID:     p.idAttr(se, "session_id", "session"),
	}
	err := p.children(func(c xml.StartElement) error {
		switch p.rfcName(c.Name) {
		case "associate-time":
			return p.setTime(&a.AssociateTime, c)
		case "disassociate-time":
			return p.setTime(&a.DisassociateTime, c)
		default:
			return p.extension(c, "participantsessionassoc", a.ParticipantID+" "+a.SessionID)
		}
	})
	p.m.ParticipantSessionAssocs = append(p.m.ParticipantSessionAssocs, a)
	return err
}

func (p *parser) participantStreamAssoc(se xml.StartElement) error {
	a := ParticipantStreamAssoc{ParticipantID: p.idAttr(se, "participant_id", "participant")}
	err := p.children(func(c xml.StartElement) error {
		switch p.rfcName(c.Name) {
		case "send", "recv":
			dir := p.rfcName(c.Name)
			v, err := p.text()
			if err != nil || v == "" {
				return err
			}
			if dir == "send" {
				a.Send = append(a.Send, v)
			} else {
				a.Recv = append(a.Recv, v)
			}
			return nil
		default:
			return p.extension(c, "participantstreamassoc", a.ParticipantID)
		}
	})
	p.m.ParticipantStreamAssocs = append(p.m.ParticipantStreamAssocs, a)
	return err
}

func (p *parser) callData(se xml.StartElement) error {
	if p.m.CallData != nil {
		p.warn("more than one <callData>; the first is kept")
		return p.extension(se, "recording", "")
	}
	cd := &CallData{}
	p.m.CallData = cd
	return p.children(func(c xml.StartElement) error {
		v, err := p.text()
		if err != nil {
			return err
		}
		switch strings.ToLower(c.Name.Local) {
		case "calluuid":
			cd.CallUUID = v
		case "connid":
			cd.ConnID = v
		case "recorddn":
			cd.RecordDN = v
		case "otherdn":
			cd.OtherDN = v
		case "agentid":
			cd.AgentID = v
		case "recordingid":
			cd.RecordingID = v
		case "prerecord":
			cd.Prerecord = parseBool(v)
		case "continuation":
			cd.Continuation = parseBool(v)
		case "dn":
			cd.DNs = append(cd.DNs, v)
		default:
			key := c.Name.Local
			if k, _, ok := attr(c, "name"); ok && strings.EqualFold(key, "extra") {
				key = k
			}
			if cd.Extra == nil {
				cd.Extra = map[string]string{}
			}
			cd.Extra[key] = v
		}
		return nil
	})
}

func parseBool(s string) bool {
	switch strings.ToLower(s) {
	case "true", "1", "yes", "on":
		return true
	}
	return false
}

// finish turns draft-era participant facts into RFC associations, derives
// Participant.Send/Recv, defaults the data mode and appends Validate's findings.
// Everything here is linear in the document: it runs on untrusted input.
func (p *parser) finish() {
	m := p.m
	psa := make(map[[2]string]bool, len(m.ParticipantSessionAssocs))
	for _, a := range m.ParticipantSessionAssocs {
		psa[[2]string{a.ParticipantID, a.SessionID}] = true
	}
	for _, d := range p.draftPSA {
		key := [2]string{d.ParticipantID, d.SessionID}
		if !psa[key] {
			psa[key] = true
			m.ParticipantSessionAssocs = append(m.ParticipantSessionAssocs, d)
		}
	}
	if len(p.draftSend) > 0 || len(p.draftRecv) > 0 {
		pst := make(map[string]int, len(m.ParticipantStreamAssocs))
		for i, a := range m.ParticipantStreamAssocs {
			if _, dup := pst[a.ParticipantID]; !dup {
				pst[a.ParticipantID] = i
			}
		}
		done := map[string]bool{}
		for _, pt := range m.Participants {
			send, recv := p.draftSend[pt.ID], p.draftRecv[pt.ID]
			if done[pt.ID] || len(send) == 0 && len(recv) == 0 {
				continue
			}
			done[pt.ID] = true
			i, ok := pst[pt.ID]
			if !ok {
				m.ParticipantStreamAssocs = append(m.ParticipantStreamAssocs, ParticipantStreamAssoc{ParticipantID: pt.ID})
				i = len(m.ParticipantStreamAssocs) - 1
				pst[pt.ID] = i
			}
			a := &m.ParticipantStreamAssocs[i]
			a.Send = appendUnique(a.Send, send...)
			a.Recv = appendUnique(a.Recv, recv...)
		}
	}
	if m.DataMode == "" {
		p.warn("no <datamode>; assuming complete")
		m.DataMode = DataModeComplete
	}
	m.deriveStreams()
	for _, w := range m.Validate() {
		p.warn("%s", w)
	}
}

// appendUnique appends the values of vs not yet in dst, in order. Large
// inputs go through a set so hostile documents stay linear.
func appendUnique(dst []string, vs ...string) []string {
	if len(dst)+len(vs) <= 16 {
		for _, v := range vs {
			if !contains(dst, v) {
				dst = append(dst, v)
			}
		}
		return dst
	}
	seen := make(map[string]bool, len(dst)+len(vs))
	for _, v := range dst {
		seen[v] = true
	}
	for _, v := range vs {
		if !seen[v] {
			seen[v] = true
			dst = append(dst, v)
		}
	}
	return dst
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
