package tlib

import (
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendMessage appends the JSON of m, byte-for-byte what encoding/json
// produces for Message with HTML escaping off (FuzzDecode checks this), in
// one pass and without intermediate allocations: Publish encodes every
// event once for all its recipients.
func appendMessage(b []byte, m *Message) ([]byte, error) {
	b = append(b, `{"message":`...)
	b = appendString(b, m.Name)
	if m.ReferenceID != 0 {
		b = append(b, `,"ReferenceID":`...)
		b = strconv.AppendUint(b, m.ReferenceID, 10)
	}
	b = appendField(b, "ConnID", m.ConnID)
	b = appendField(b, "PreviousConnID", m.PreviousConnID)
	b = appendField(b, "CallUUID", m.CallUUID)
	b = appendField(b, "CallID", m.CallID)
	b = appendField(b, "ThisDN", m.ThisDN)
	b = appendField(b, "ThisDNRole", m.ThisDNRole)
	b = appendField(b, "OtherDN", m.OtherDN)
	b = appendField(b, "OtherDNRole", m.OtherDNRole)
	b = appendField(b, "ThirdPartyDN", m.ThirdPartyDN)
	b = appendField(b, "ThirdPartyDNRole", m.ThirdPartyDNRole)
	b = appendField(b, "ANI", m.ANI)
	b = appendField(b, "DNIS", m.DNIS)
	b = appendField(b, "CallType", m.CallType)
	b = appendField(b, "CallState", m.CallState)
	b = appendKVList(b, "UserData", m.UserData)
	b = appendKVList(b, "Extensions", m.Extensions)
	b = appendKVList(b, "Reasons", m.Reasons)
	if m.PrivateMsgID != 0 {
		b = append(b, `,"PrivateMsgID":`...)
		b = strconv.AppendInt(b, int64(m.PrivateMsgID), 10)
	}
	if m.ErrorCode != 0 {
		b = append(b, `,"ErrorCode":`...)
		b = strconv.AppendInt(b, int64(m.ErrorCode), 10)
	}
	b = appendField(b, "ErrorMessage", m.ErrorMessage)
	if !m.Time.IsZero() {
		if y := m.Time.Year(); y < 0 || y > 9999 {
			return nil, fmt.Errorf("attribute Time: year %d outside [0,9999]", y)
		}
		b = append(b, `,"Time":"`...)
		b = m.Time.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	b = appendField(b, "ApplicationName", m.ApplicationName)
	b = appendField(b, "Password", m.Password)
	b = appendField(b, "RegisterMode", m.RegisterMode)
	b = appendField(b, "MonitorMode", m.MonitorMode)
	b = appendField(b, "MonitorScope", m.MonitorScope)
	b = appendField(b, "Server", m.Server)
	return append(b, '}'), nil
}

func appendField(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendString(b, v)
}

func appendKVList(b []byte, key string, kv KVList) []byte {
	if len(kv) == 0 {
		return b
	}
	var stack [16]string // sorted keys; typical lists fit without allocating
	keys := stack[:0]
	for k := range kv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, `":{`...)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, kv[k])
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString quotes s as encoding/json does with HTML escaping off:
// short escapes for \b \f \n \r \t, \u00XX for other controls, U+FFFD for
// invalid UTF-8, and \u2028/\u2029 escaped for JavaScript consumers.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
