package msml

import (
	"strconv"
	"strings"
)

// Result is the <result> a media server answers a request with.
type Result struct {
	Code        int
	Description string
	// DialogID is the identifier of a recording a record request started
	// (conf:<conf>/dialog:<id>), so the client learns a generated id.
	DialogID string
}

// OK reports whether the request succeeded.
func (r *Result) OK() bool { return r.Code >= 200 && r.Code < 300 }

// Err returns the result as an *Error, or nil for success.
func (r *Result) Err() error {
	if r.OK() {
		return nil
	}
	return &Error{Code: r.Code, Msg: r.Description}
}

// Marshal writes the result document.
func (r Result) Marshal() []byte {
	w := newWriter()
	w.b.WriteString("  <result")
	w.attr("response", itoa(r.Code))
	if r.Description == "" && r.DialogID == "" {
		w.b.WriteString("/>\n")
		return w.done()
	}
	w.b.WriteString(">\n")
	if r.Description != "" {
		w.b.WriteString("    <description>")
		w.text(r.Description)
		w.b.WriteString("</description>\n")
	}
	if r.DialogID != "" {
		w.b.WriteString("    <dialogid>")
		w.text(r.DialogID)
		w.b.WriteString("</dialogid>\n")
	}
	w.b.WriteString("  </result>\n")
	return w.done()
}

// ResultFor returns the result answering err (200 for nil).
func ResultFor(err error) Result {
	if err == nil {
		return Result{Code: CodeOK}
	}
	return Result{Code: CodeOf(err), Description: describe(err)}
}

func describe(err error) string {
	if e, ok := err.(*Error); ok {
		return e.Msg
	}
	return err.Error()
}

// ParseResult reads a <result> document.
func ParseResult(b []byte) (*Result, error) {
	root, err := parseRoot(b)
	if err != nil {
		return nil, err
	}
	if len(root.children) != 1 || root.children[0].name != "result" {
		return nil, newError(CodeBadRequest, "not a result document")
	}
	n := root.children[0]
	if err := n.allowAttrs("response", "mark"); err != nil {
		return nil, err
	}
	if err := n.noText(); err != nil {
		return nil, err
	}
	code, err := n.required("response")
	if err != nil {
		return nil, err
	}
	c, err := strconv.Atoi(code)
	if err != nil || c < 100 || c > 699 {
		return nil, newError(CodeInvalidValue, "response %q is not a code", truncate(code))
	}
	res := &Result{Code: c}
	for _, ch := range n.children {
		switch ch.name {
		case "description":
			res.Description = strings.TrimSpace(ch.text.String())
		case "dialogid":
			res.DialogID = strings.TrimSpace(ch.text.String())
		default:
			// RFC 5707 results may carry <confid> and others; a client ignores them.
		}
	}
	return res, nil
}
