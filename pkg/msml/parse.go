package msml

import (
	"strings"
)

// ParseRequest reads one request of the subset. Errors are *Error values
// carrying the MSML response code to answer with.
func ParseRequest(b []byte) (*Request, error) {
	root, err := parseRoot(b)
	if err != nil {
		return nil, err
	}
	if len(root.children) == 0 {
		return nil, newError(CodeBadRequest, "<msml> holds no operation")
	}
	if len(root.children) > 1 {
		return nil, newError(CodeBadRequest, "one operation per document, got %d", len(root.children))
	}
	op := root.children[0]
	var req *Request
	switch op.name {
	case "dialogstart":
		req, err = parseDialogStart(op)
	case "dialogend":
		req, err = parseDialogEnd(op)
	case "send":
		req, err = parseSend(op)
	case "join":
		req, err = parseJoin(op, OpJoin)
	case "unjoin":
		req, err = parseJoin(op, OpUnjoin)
	default:
		return nil, unexpected(op, "msml")
	}
	if err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	return req, nil
}

// parseRoot parses b and checks the <msml version="..."> root.
func parseRoot(b []byte) (*node, error) {
	root, err := parseTree(b)
	if err != nil {
		return nil, err
	}
	if root.name != "msml" {
		return nil, newError(CodeBadRequest, "root element is <%s>, want <msml>", root.name)
	}
	if err := root.allowAttrs("version"); err != nil {
		return nil, err
	}
	v, err := root.required("version")
	if err != nil {
		return nil, err
	}
	if v != "1.0" && v != "1.1" {
		return nil, newError(CodeInvalidValue, "version %q (want 1.1)", truncate(v))
	}
	if err := root.noText(); err != nil {
		return nil, err
	}
	return root, nil
}

func parseDialogStart(n *node) (*Request, error) {
	if err := n.allowAttrs("target", "name", "type"); err != nil {
		return nil, err
	}
	if err := n.noText(); err != nil {
		return nil, err
	}
	target, err := n.required("target")
	if err != nil {
		return nil, err
	}
	conf, err := parseConfTarget(target, "target")
	if err != nil {
		return nil, err
	}
	if t, ok := n.attr("type"); ok && t != "application/moml+xml" {
		return nil, newError(CodeInvalidValue, "dialog type %q (want application/moml+xml)", truncate(t))
	}
	name, _ := n.attr("name")
	if err := n.onlyChildren("record"); err != nil {
		return nil, err
	}
	if len(n.children) != 1 {
		return nil, newError(CodeBadRequest, "<dialogstart> holds exactly one <record>, got %d elements", len(n.children))
	}
	rec, err := parseRecord(n.children[0])
	if err != nil {
		return nil, err
	}
	return &Request{Op: OpRecord, Conf: conf, RecordingID: name, Record: rec}, nil
}

var recordAttrs = []string{
	"calluuid", "connid", "recorddn", "otherdn", "side", "sessions",
	"prerecord", "srtp", "transport", "mode",
}

func parseRecord(n *node) (*Record, error) {
	if err := n.allowAttrs(recordAttrs...); err != nil {
		return nil, err
	}
	if err := n.noText(); err != nil {
		return nil, err
	}
	var rec Record
	rec.CallUUID, _ = n.attr("calluuid")
	rec.ConnID, _ = n.attr("connid")
	rec.RecordDN, _ = n.attr("recorddn")
	rec.OtherDN, _ = n.attr("otherdn")
	side, _ := n.attr("side")
	rec.Side = Side(side)
	sessions, _ := n.attr("sessions")
	rec.Sessions = Sessions(sessions)
	rec.SRTP, _ = n.attr("srtp")
	rec.Transport, _ = n.attr("transport")
	rec.Transport = strings.ToLower(rec.Transport)
	mode, _ := n.attr("mode")
	rec.Mode = Mode(mode)
	var err error
	if rec.Prerecord, err = n.boolAttr("prerecord"); err != nil {
		return nil, err
	}
	if err := n.onlyChildren("dest"); err != nil {
		return nil, err
	}
	if len(n.children) > MaxDests {
		return nil, newError(CodeInvalidValue, "%d destinations (at most %d)", len(n.children), MaxDests)
	}
	for _, c := range n.children {
		if err := c.allowAttrs("uri", "mode", "direct"); err != nil {
			return nil, err
		}
		if err := c.noText(); err != nil {
			return nil, err
		}
		if len(c.children) > 0 {
			return nil, unexpected(c.children[0], "dest")
		}
		uri, err := c.required("uri")
		if err != nil {
			return nil, err
		}
		mode, _ := c.attr("mode")
		direct, err := c.boolAttr("direct")
		if err != nil {
			return nil, err
		}
		rec.Dests = append(rec.Dests, Dest{URI: strings.TrimSpace(uri), Mode: Mode(mode), Direct: direct})
	}
	return &rec, nil
}

func parseDialogEnd(n *node) (*Request, error) {
	if err := leaf(n, "id"); err != nil {
		return nil, err
	}
	id, err := n.required("id")
	if err != nil {
		return nil, err
	}
	conf, rid, err := parseDialogID(id, "id")
	if err != nil {
		return nil, err
	}
	return &Request{Op: OpStop, Conf: conf, RecordingID: rid}, nil
}

func parseSend(n *node) (*Request, error) {
	if err := leaf(n, "target", "event"); err != nil {
		return nil, err
	}
	target, err := n.required("target")
	if err != nil {
		return nil, err
	}
	ev, err := n.required("event")
	if err != nil {
		return nil, err
	}
	conf, rid, err := parseDialogID(target, "target")
	if err != nil {
		return nil, err
	}
	var op Op
	switch ev {
	case "pause", "app.pause":
		op = OpPause
	case "resume", "app.resume":
		op = OpResume
	case "terminate", "app.terminate":
		op = OpStop
	default:
		return nil, newError(CodeInvalidValue, "event %q (want pause|resume|terminate)", truncate(ev))
	}
	return &Request{Op: op, Conf: conf, RecordingID: rid}, nil
}

func parseJoin(n *node, op Op) (*Request, error) {
	allowed := []string{"id1", "id2"}
	if op == OpJoin {
		allowed = append(allowed, "mode", "agent")
	}
	if err := leaf(n, allowed...); err != nil {
		return nil, err
	}
	id1, err := n.required("id1")
	if err != nil {
		return nil, err
	}
	id2, err := n.required("id2")
	if err != nil {
		return nil, err
	}
	conn, err := parseConn(id1, "id1")
	if err != nil {
		return nil, err
	}
	conf, err := parseConfTarget(id2, "id2")
	if err != nil {
		return nil, err
	}
	req := &Request{Op: op, Conf: conf, Conn: conn}
	if op == OpJoin {
		mode, _ := n.attr("mode")
		req.JoinMode = JoinMode(mode)
		if agent, ok := n.attr("agent"); ok {
			if req.Agent, err = parseConn(agent, "agent"); err != nil {
				return nil, err
			}
		}
	}
	return req, nil
}

// leaf checks an element that takes only the allowed attributes and no
// content.
func leaf(n *node, allowed ...string) error {
	if err := n.allowAttrs(allowed...); err != nil {
		return err
	}
	if err := n.noText(); err != nil {
		return err
	}
	if len(n.children) > 0 {
		return unexpected(n.children[0], n.name)
	}
	return nil
}

func parseConfTarget(v, attr string) (string, error) {
	conf, ok := strings.CutPrefix(v, "conf:")
	if !ok || !ValidConf(conf) {
		return "", newError(CodeInvalidValue, "%s %q is not conf:<conference-id>", attr, truncate(v))
	}
	return conf, nil
}

func parseDialogID(v, attr string) (conf, id string, err error) {
	c, d, ok := strings.Cut(v, "/dialog:")
	if !ok {
		return "", "", newError(CodeInvalidValue, "%s %q is not conf:<conference-id>/dialog:<recording-id>", attr, truncate(v))
	}
	if conf, err = parseConfTarget(c, attr); err != nil {
		return "", "", err
	}
	if !ValidID(d) {
		return "", "", newError(CodeInvalidValue, "%s %q names no valid recording id", attr, truncate(v))
	}
	return conf, d, nil
}

func parseConn(v, attr string) (string, error) {
	dn, ok := strings.CutPrefix(v, "conn:")
	if !ok || !ValidDN(dn) {
		return "", newError(CodeInvalidValue, "%s %q is not conn:<DN>", attr, truncate(v))
	}
	return dn, nil
}
