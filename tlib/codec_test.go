package tlib

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadLine(t *testing.T) {
	const max = 16
	for _, tc := range []struct {
		name  string
		input string
		want  []string // "!" stands for ErrTooLarge
	}{
		{"lf", "{\"a\":1}\n{}\n", []string{`{"a":1}`, `{}`}},
		{"crlf", "{\"a\":1}\r\n", []string{`{"a":1}`}},
		{"blank lines skipped", "\n\r\n   \n{}\n", []string{`{}`}},
		{"exactly max", strings.Repeat("x", max) + "\n{}\n", []string{strings.Repeat("x", max), `{}`}},
		{"one over max", strings.Repeat("x", max+1) + "\n{}\n", []string{"!", `{}`}},
		{"far over max", strings.Repeat("y", 10*max) + "\n{}\n", []string{"!", `{}`}},
		{"two oversize", strings.Repeat("y", 3*max) + "\n" + strings.Repeat("z", 2*max) + "\n{}\n", []string{"!", "!", `{}`}},
		{"partial last line dropped", "{}\n{\"a\"", []string{`{}`}},
		{"oversize unterminated", strings.Repeat("x", 3*max), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tc.input), max+1)
			var got []string
			for {
				line, err := readLine(br)
				if err == io.EOF {
					break
				}
				if err == ErrTooLarge {
					got = append(got, "!")
					continue
				}
				require.NoError(t, err)
				got = append(got, string(line))
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want *Message // nil = ErrMalformed
	}{
		{`{"message":"EventACK","ReferenceID":18446744073709551615}`, &Message{Name: EventACK, ReferenceID: 1<<64 - 1}},
		{` {"message":"EventACK"} ` + "\r\n", &Message{Name: EventACK}},
		{`{"message":"EventACK","ReferenceID":null,"ThisDN":null,"UserData":null}`, &Message{Name: EventACK}},
		{`{"message":"EventACK","Future":{"x":[1,{"y":null},true,false,"s"]},"Other":-1.5e-3}`, &Message{Name: EventACK}},
		{`{"message":"EventACK","thisdn":"7001"}`, &Message{Name: EventACK}}, // case-sensitive
		{`{"message":"EventACK","ThisDN":"a","ThisDN":"b"}`, &Message{Name: EventACK, ThisDN: "b"}},
		{`{"message":"EventACK","ThisDN":"\u00e9\ud83d\ude00\"\\\/\b\f\n\r\t"}`, &Message{Name: EventACK, ThisDN: "é😀\"\\/\b\f\n\r\t"}},
		{`{"message":"EventACK","ThisDN":"\ud83d x"}`, &Message{Name: EventACK, ThisDN: "\uFFFD x"}},
		{`{"message":"EventACK","ThisDN":"\ud83d\u0041"}`, &Message{Name: EventACK, ThisDN: "\uFFFDA"}},
		{"{\"message\":\"EventACK\",\"ThisDN\":\"a\xffb\"}", &Message{Name: EventACK, ThisDN: "a\uFFFDb"}},
		{`{"message":"EventACK","PrivateMsgID":-3013,"ErrorCode":7}`, &Message{Name: EventACK, PrivateMsgID: -3013, ErrorCode: 7}},
		{`{"message":"EventACK","Time":"2025-01-10T09:00:01Z"}`, &Message{Name: EventACK, Time: time.Date(2025, 1, 10, 9, 0, 1, 0, time.UTC)}},
		{`{"message":"EventACK","ReferenceID":-1}`, nil},
		{`{"message":"EventACK","ReferenceID":1.0}`, nil},
		{`{"message":"EventACK","ReferenceID":1e2}`, nil},
		{`{"message":"EventACK","ReferenceID":18446744073709551616}`, nil},
		{`{"message":"EventACK","ReferenceID":"1"}`, nil},
		{`{"message":"EventACK","ThisDN":7001}`, nil},
		{`{"message":"EventACK","ThisDN":"a` + "\x01" + `"}`, nil},
		{`{"message":"EventACK","ThisDN":"\x"}`, nil},
		{`{"message":"EventACK","ThisDN":"\u12"}`, nil},
		{`{"message":"EventACK","Time":"yesterday"}`, nil},
		{`{"message":"EventACK","Time":"2025-01-10T09:00:01\u005a"}`, nil},
		{`{"message":"EventACK","UserData":["a"]}`, nil},
		{`{"message":"EventACK","Other":[1,]}`, nil},
		{`{"message":"EventACK",}`, nil},
		{`{"message":"EventACK"} {}`, nil},
		{`{"message":"EventACK"`, nil},
		{`{"message":"EventACK" "x":1}`, nil},
		{`{message:"EventACK"}`, nil},
		{`{"message":"EventACK","Other":tru}`, nil},
		{`{"message":"EventACK","Other":` + strings.Repeat("[", maxNesting+2) + strings.Repeat("]", maxNesting+2) + `}`, nil},
		{`{"ReferenceID":1}`, nil},
		{`{"message":""}`, nil},
		{`null`, nil},
		{``, nil},
	} {
		got, err := Decode([]byte(tc.in))
		if tc.want == nil {
			assert.ErrorIs(t, err, ErrMalformed, tc.in)
			continue
		}
		if assert.NoError(t, err, tc.in) {
			assert.Equal(t, tc.want, got, tc.in)
		}
	}
}

// stdEncode is the reference for Encode: encoding/json, HTML escaping off.
func stdEncode(t testing.TB, m *Message) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(m))
	return buf.Bytes()
}

func TestEncodeMatchesEncodingJSON(t *testing.T) {
	for _, m := range append(goldenMessages,
		&Message{Name: "a\"b\\c\b\f\n\r\t\x00\x1f\x7f é\u2028\u2029😀\xff<>&"},
		&Message{Name: EventACK, ReferenceID: 1<<64 - 1, PrivateMsgID: -5, ErrorCode: -1,
			Time: time.Date(2025, 1, 10, 9, 0, 1, 123456789, time.FixedZone("", 5*3600+1800))},
		&Message{Name: EventACK, UserData: KVList{}, Extensions: KVList{"": "", "b": "1", "a": "\x01"}},
		&Message{Name: EventACK, UserData: func() KVList {
			kv := KVList{}
			for i := range 40 { // more keys than the sort's stack buffer
				kv[strconv.Itoa(i)] = strconv.Itoa(i)
			}
			return kv
		}()},
	) {
		got, err := Encode(m)
		require.NoError(t, err)
		assert.Equal(t, string(stdEncode(t, m)), string(got))
	}
	_, err := Encode(&Message{Name: EventACK, Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
	require.Error(t, err)
}

// stdMessage mirrors Message for encoding/json, without custom decoding.
type stdMessage struct {
	Name             string                     `json:"message"`
	ReferenceID      uint64                     `json:"ReferenceID"`
	ConnID           string                     `json:"ConnID"`
	PreviousConnID   string                     `json:"PreviousConnID"`
	CallUUID         string                     `json:"CallUUID"`
	CallID           string                     `json:"CallID"`
	ThisDN           string                     `json:"ThisDN"`
	ThisDNRole       string                     `json:"ThisDNRole"`
	OtherDN          string                     `json:"OtherDN"`
	OtherDNRole      string                     `json:"OtherDNRole"`
	ThirdPartyDN     string                     `json:"ThirdPartyDN"`
	ThirdPartyDNRole string                     `json:"ThirdPartyDNRole"`
	ANI              string                     `json:"ANI"`
	DNIS             string                     `json:"DNIS"`
	CallType         string                     `json:"CallType"`
	CallState        string                     `json:"CallState"`
	UserData         map[string]json.RawMessage `json:"UserData"`
	Extensions       map[string]json.RawMessage `json:"Extensions"`
	Reasons          map[string]json.RawMessage `json:"Reasons"`
	PrivateMsgID     int                        `json:"PrivateMsgID"`
	ErrorCode        int                        `json:"ErrorCode"`
	ErrorMessage     string                     `json:"ErrorMessage"`
	Time             time.Time                  `json:"Time"`
	ApplicationName  string                     `json:"ApplicationName"`
	Password         string                     `json:"Password"`
	RegisterMode     string                     `json:"RegisterMode"`
	MonitorMode      string                     `json:"MonitorMode"`
	MonitorScope     string                     `json:"MonitorScope"`
	Server           string                     `json:"Server"`
}

// stdDecode decodes with encoding/json and the documented Message rules.
func stdDecode(b []byte) (*Message, bool) {
	var s stdMessage
	if json.Unmarshal(b, &s) != nil || s.Name == "" {
		return nil, false
	}
	kv := func(raw map[string]json.RawMessage) (KVList, bool) {
		if raw == nil {
			return nil, true
		}
		out := KVList{}
		for k, v := range raw {
			switch {
			case v[0] == '"':
				var str string
				if json.Unmarshal(v, &str) != nil {
					return nil, false
				}
				out[k] = str
			case v[0] == '-' || (v[0] >= '0' && v[0] <= '9'):
				out[k] = string(v)
			case string(v) == "null":
			default:
				return nil, false
			}
		}
		return out, true
	}
	ud, ok1 := kv(s.UserData)
	ex, ok2 := kv(s.Extensions)
	re, ok3 := kv(s.Reasons)
	if !ok1 || !ok2 || !ok3 {
		return nil, false
	}
	return &Message{Name: s.Name, ReferenceID: s.ReferenceID, ConnID: s.ConnID, PreviousConnID: s.PreviousConnID,
		CallUUID: s.CallUUID, CallID: s.CallID, ThisDN: s.ThisDN, ThisDNRole: s.ThisDNRole, OtherDN: s.OtherDN,
		OtherDNRole: s.OtherDNRole, ThirdPartyDN: s.ThirdPartyDN, ThirdPartyDNRole: s.ThirdPartyDNRole, ANI: s.ANI,
		DNIS: s.DNIS, CallType: s.CallType, CallState: s.CallState, UserData: ud, Extensions: ex, Reasons: re,
		PrivateMsgID: s.PrivateMsgID, ErrorCode: ErrorCode(s.ErrorCode), ErrorMessage: s.ErrorMessage, Time: s.Time,
		ApplicationName: s.ApplicationName, Password: s.Password, RegisterMode: s.RegisterMode,
		MonitorMode: s.MonitorMode, MonitorScope: s.MonitorScope, Server: s.Server}, true
}

// comparableWithStd excludes inputs where Decode differs from encoding/json
// by design: case-insensitive or duplicate attribute names, nesting deeper
// than maxNesting, and null on a key list (encoding/json resets the map).
func comparableWithStd(b []byte) bool {
	if bytes.Count(b, []byte("["))+bytes.Count(b, []byte("{")) > maxNesting {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return true // not an object: both must fail
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return true
		}
		key, _ := tok.(string)
		if seen[key] {
			return false
		}
		seen[key] = true
		for _, f := range messageKeys {
			if key != f && strings.EqualFold(key, f) {
				return false
			}
		}
		var raw json.RawMessage
		if dec.Decode(&raw) != nil {
			return true
		}
	}
	return true
}

var messageKeys = []string{"message", "ReferenceID", "ConnID", "PreviousConnID", "CallUUID", "CallID", "ThisDN",
	"ThisDNRole", "OtherDN", "OtherDNRole", "ThirdPartyDN", "ThirdPartyDNRole", "ANI", "DNIS", "CallType",
	"CallState", "UserData", "Extensions", "Reasons", "PrivateMsgID", "ErrorCode", "ErrorMessage", "Time",
	"ApplicationName", "Password", "RegisterMode", "MonitorMode", "MonitorScope", "Server"}

func FuzzDecode(f *testing.F) {
	golden, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	for _, p := range golden {
		b, err := os.ReadFile(p)
		require.NoError(f, err)
		f.Add(b)
	}
	for _, s := range []string{
		`{"message":"EventACK","ThisDN":"\ud83d\ude00\u00e9\n","UserData":{"a":1,"b":null,"c":"x"}}`,
		`{"message":"EventACK","Other":{"x":[1,{"y":null},true]},"ReferenceID":0}`,
		`{"message":"EventACK","Time":"2025-01-10T09:00:01+02:00"}`,
		`{"message":"EventACK","ThisDN":"\ud83d\u0041"}`,
		"{\"message\":\"E\xff\"}", `{"message":"x","thisDN":"y"}`, `[]`, `null`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err == nil {
			require.True(t, json.Valid(b), "accepted invalid JSON")
			enc, err := Encode(m)
			require.NoError(t, err)
			require.Equal(t, string(stdEncode(t, m)), string(enc), "Encode differs from encoding/json")
			again, err := Decode(enc)
			require.NoError(t, err, "re-decoding %s", enc)
			require.True(t, m.Time.Equal(again.Time))
			again.Time = m.Time
			// An empty list is omitted on the wire: compare it as absent.
			orig := m.Clone()
			for _, kv := range []*KVList{&orig.UserData, &orig.Extensions, &orig.Reasons} {
				if len(*kv) == 0 {
					*kv = nil
				}
			}
			require.Equal(t, orig, again, "round trip via %s", enc)
		}
		if !comparableWithStd(b) {
			return
		}
		want, ok := stdDecode(b)
		require.Equal(t, ok, err == nil, "Decode err=%v, encoding/json ok=%v", err, ok)
		if ok {
			require.Equal(t, want, m)
		}
	})
}
