package msml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Limits of the generic tree a document is read into before it is
// interpreted. The subset nests four levels deep and has a handful of
// elements; the limits only stop hostile input early.
const (
	maxDepth    = 16
	maxElements = 256
)

// node is one element of a parsed document. Namespaces are ignored: MSML
// documents are written with and without a default namespace.
type node struct {
	name     string
	attrs    []xml.Attr // namespace declarations and namespaced attributes removed
	children []*node
	text     strings.Builder
}

// parseTree reads b into a tree, refusing oversize input, DTDs and anything
// that is not one well-formed element.
func parseTree(b []byte) (*node, error) {
	if len(b) > MaxSize {
		return nil, &Error{Code: CodeBadRequest, Msg: fmt.Sprintf("document of %d bytes exceeds %d", len(b), MaxSize), sentinel: ErrTooLarge}
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, newError(CodeBadRequest, "empty body")
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	var (
		root  *node
		stack []*node
		count int
	)
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, newError(CodeBadRequest, "not well-formed XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root != nil && len(stack) == 0 {
				return nil, newError(CodeBadRequest, "content after the root element")
			}
			count++
			if count > maxElements || len(stack) >= maxDepth {
				return nil, newError(CodeBadRequest, "document nests too deep or has too many elements")
			}
			n := &node{name: t.Name.Local}
			seen := map[string]bool{}
			for _, a := range t.Attr {
				if a.Name.Space != "" || a.Name.Local == "xmlns" {
					continue // xmlns, xmlns:x and x:attr (e.g. xsi:schemaLocation)
				}
				if seen[a.Name.Local] {
					return nil, newError(CodeBadRequest, "attribute %s repeated on <%s>", a.Name.Local, n.name)
				}
				seen[a.Name.Local] = true
				n.attrs = append(n.attrs, a)
			}
			if len(stack) == 0 {
				root = n
			} else {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(t)) > 0 {
					return nil, newError(CodeBadRequest, "text outside the root element")
				}
				continue
			}
			top := stack[len(stack)-1]
			if top.text.Len()+len(t) > MaxSize {
				return nil, newError(CodeBadRequest, "text too long")
			}
			top.text.Write(t)
		case xml.Directive:
			return nil, newError(CodeBadRequest, "DTD and other declarations are not accepted")
		case xml.ProcInst:
			if t.Target != "xml" {
				return nil, newError(CodeBadRequest, "processing instruction <?%s?> not accepted", t.Target)
			}
		case xml.Comment:
		}
	}
	if root == nil {
		return nil, newError(CodeBadRequest, "no root element")
	}
	return root, nil
}

// attr returns the value of attribute name.
func (n *node) attr(name string) (string, bool) {
	for _, a := range n.attrs {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

// required returns a mandatory attribute or a 408.
func (n *node) required(name string) (string, error) {
	v, ok := n.attr(name)
	if !ok {
		return "", newError(CodeMissingAttribute, "<%s> needs the %s attribute", n.name, name)
	}
	return v, nil
}

// allowAttrs refuses attributes outside allowed with a 406.
func (n *node) allowAttrs(allowed ...string) error {
	for _, a := range n.attrs {
		ok := false
		for _, w := range allowed {
			if a.Name.Local == w {
				ok = true
				break
			}
		}
		if !ok {
			return newError(CodeUnknownAttribute, "<%s> takes no %s attribute", n.name, a.Name.Local)
		}
	}
	return nil
}

// noText refuses character data in an element that holds only elements.
func (n *node) noText() error {
	if strings.TrimSpace(n.text.String()) != "" {
		return newError(CodeBadRequest, "<%s> holds no text", n.name)
	}
	return nil
}

// onlyChildren refuses children other than the allowed names: elements MSML
// does not define are 401, MSML elements that are out of place or outside
// the subset are 402.
func (n *node) onlyChildren(allowed ...string) error {
	for _, c := range n.children {
		ok := false
		for _, w := range allowed {
			if c.name == w {
				ok = true
				break
			}
		}
		if !ok {
			return unexpected(c, n.name)
		}
	}
	return nil
}

func unexpected(c *node, parent string) *Error {
	if rfcElements[c.name] {
		return newError(CodeUnsupportedElement, "<%s> is not supported inside <%s>", c.name, parent)
	}
	return newError(CodeUnknownElement, "unknown element <%s> inside <%s>", c.name, parent)
}

// rfcElements are the element names RFC 5707 and its MOML dialog language
// define: the parser answers 402 (unsupported) rather than 401 (unknown) for
// them.
var rfcElements = map[string]bool{
	"msml": true, "createconference": true, "modifyconference": true, "destroyconference": true,
	"join": true, "unjoin": true, "modifystream": true, "monitor": true, "dialogstart": true,
	"dialogend": true, "send": true, "audit": true, "result": true, "event": true, "name": true,
	"value": true, "description": true, "dialogid": true, "confid": true, "audiomix": true,
	"videolayout": true, "reserve": true, "stream": true, "gain": true, "clamp": true,
	"play": true, "record": true, "dtmf": true, "collect": true, "dtmfgen": true, "tts": true,
	"vad": true, "group": true, "exit": true, "disconnect": true, "sendevent": true,
	"var": true, "audio": true, "video": true, "media": true, "transfer": true, "speech": true,
	"dialogprepare": true, "moml": true,
}

// boolAttr parses an optional boolean attribute.
func (n *node) boolAttr(name string) (bool, error) {
	v, ok := n.attr(name)
	if !ok {
		return false, nil
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "yes", "1":
		return true, nil
	case "false", "no", "0":
		return false, nil
	}
	return false, newError(CodeInvalidValue, "%s=%q on <%s> is not a boolean", name, truncate(v), n.name)
}
