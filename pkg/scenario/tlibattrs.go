package scenario

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/arlab/arlab/tlib"
)

// T-lib attributes are addressed by their wire names (ThisDN, ConnID,
// UserData...), read from tlib.Message's JSON tags so the scenario format
// follows the protocol without a second list to keep in sync.

type attrKind int

const (
	attrString attrKind = iota
	attrInt
	attrUint
	attrKV
	attrTime
)

type attrInfo struct {
	name  string
	index int
	kind  attrKind
}

var (
	tlibAttrs     = map[string]attrInfo{}
	tlibAttrNames []string
)

func init() {
	t := reflect.TypeOf(tlib.Message{})
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || name == "message" {
			continue
		}
		var k attrKind
		switch {
		case f.Type == reflect.TypeOf(time.Time{}):
			k = attrTime
		case f.Type.Kind() == reflect.String:
			k = attrString
		case f.Type.Kind() == reflect.Int:
			k = attrInt
		case f.Type.Kind() == reflect.Uint64:
			k = attrUint
		case f.Type.Kind() == reflect.Map:
			k = attrKV
		default:
			continue
		}
		tlibAttrs[name] = attrInfo{name: name, index: i, kind: k}
		tlibAttrNames = append(tlibAttrNames, name)
	}
	sort.Strings(tlibAttrNames)
}

// flatten turns a message into the fields a matcher or a variable sees:
// "event" (the message name), each non-empty attribute, and
// "UserData.KEY" (likewise Extensions, Reasons) for key/value lists.
func flatten(m *tlib.Message) map[string]string {
	out := map[string]string{"event": m.Name}
	v := reflect.ValueOf(m).Elem()
	for _, a := range tlibAttrs {
		f := v.Field(a.index)
		switch a.kind {
		case attrString:
			if s := f.String(); s != "" {
				out[a.name] = s
			}
		case attrInt:
			if n := f.Int(); n != 0 {
				out[a.name] = strconv.FormatInt(n, 10)
			}
		case attrUint:
			if n := f.Uint(); n != 0 {
				out[a.name] = strconv.FormatUint(n, 10)
			}
		case attrTime:
			if t := f.Interface().(time.Time); !t.IsZero() {
				out[a.name] = t.Format(time.RFC3339Nano)
			}
		case attrKV:
			iter := f.MapRange()
			for iter.Next() {
				out[a.name+"."+iter.Key().String()] = iter.Value().String()
			}
		}
	}
	return out
}

// privateMsgIDs are the symbolic names accepted for PrivateMsgID, resolved
// with the lab's configured numbers.
var privateMsgNames = []string{"GSIP_RECORD_START", "GSIP_RECORD_STOP", "GSIP_RECORD_PAUSE", "GSIP_RECORD_RESUME"}

// reqAttr is one attribute of a T-lib request as written in a scenario.
type reqAttr struct {
	info attrInfo
	val  tmpl
	kv   []kvPair
	pos  Pos
}

type kvPair struct {
	key string
	val tmpl
}

// buildRequest makes the request message from its attributes.
func buildRequest(name string, attrs []reqAttr, v *vars, ids map[string]int) (*tlib.Message, error) {
	m := &tlib.Message{Name: name}
	rv := reflect.ValueOf(m).Elem()
	for _, a := range attrs {
		f := rv.Field(a.info.index)
		switch a.info.kind {
		case attrKV:
			kv := reflect.MakeMap(f.Type())
			for _, p := range a.kv {
				s, err := p.val.expand(v)
				if err != nil {
					return nil, err
				}
				kv.SetMapIndex(reflect.ValueOf(p.key), reflect.ValueOf(s))
			}
			f.Set(kv)
			continue
		}
		s, err := a.val.expand(v)
		if err != nil {
			return nil, err
		}
		switch a.info.kind {
		case attrString:
			f.SetString(s)
		case attrInt, attrUint:
			if a.info.name == "PrivateMsgID" {
				if n, ok := ids[s]; ok {
					f.SetInt(int64(n))
					continue
				}
			}
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("%s: %q is not a number", a.info.name, s)
			}
			if a.info.kind == attrInt {
				f.SetInt(n)
			} else {
				f.SetUint(uint64(n))
			}
		}
	}
	return m, nil
}

// describeEvent is a one-line summary of an event for failure messages.
func describeEvent(m *tlib.Message) string {
	var b strings.Builder
	b.WriteString(m.Name)
	f := flatten(m)
	for _, k := range []string{"ThisDN", "OtherDN", "ConnID", "CallState", "ErrorCode", "ErrorMessage"} {
		if s := f[k]; s != "" {
			fmt.Fprintf(&b, " %s=%s", k, s)
		}
	}
	if len(m.UserData) > 0 {
		keys := make([]string, 0, len(m.UserData))
		for k := range m.UserData {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString(" UserData{")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(" ")
			}
			fmt.Fprintf(&b, "%s=%s", k, m.UserData[k])
		}
		b.WriteString("}")
	}
	return b.String()
}
