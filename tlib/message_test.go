package tlib

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

var t0 = time.Date(2025, 1, 10, 9, 0, 1, 250_000_000, time.UTC)

// goldenMessages are encoded and compared with testdata/golden/<name>.json.
var goldenMessages = []*Message{
	{Name: RequestOpen, ReferenceID: 1, ApplicationName: "recorder-1", Password: "s3cret"},
	{Name: RequestRegisterAddress, ReferenceID: 2, ThisDN: "7001", RegisterMode: ModeShare},
	{Name: RequestPrivateService, ReferenceID: 9, ThisDN: "7001", ConnID: "007102719818001f",
		PrivateMsgID: PrivateRecordStart, Extensions: KVList{"record": "destination", "id": "rec-77", "dest": "sip:rec@10.0.0.9"}},
	{Name: RequestRouteCall, ReferenceID: 4, ThisDN: "5000", ConnID: "007102719818001f", OtherDN: "7001",
		Extensions: KVList{"record": "source"}},
	{Name: EventRinging, ConnID: "007102719818001f", CallUUID: "01RCC3AB0000000V", CallID: "17",
		ThisDN: "7001", ThisDNRole: RoleDestination, OtherDN: "+15551230000", OtherDNRole: RoleOrigination,
		ANI: "+15551230000", DNIS: "7001", CallType: CallTypeInbound, UserData: KVList{"queue": "sales", "tier": "2"}, Time: t0},
	{Name: EventAttachedDataChanged, ConnID: "007102719818001f", CallUUID: "01RCC3AB0000000V", ThisDN: "7001",
		UserData: KVList{KeyRecord: RecordOn, KeyRecordFilename: "01RCC3AB0000000V_7001_+15551230000_7001_2025-01-10_09-00-01_sip1__<cont_center_id>"}, Time: t0},
	{Name: EventError, ReferenceID: 9, ThisDN: "7001", ConnID: "nope", ErrorCode: ErrInvalidConnID,
		ErrorMessage: "nope", Server: "arlab", Time: t0},
	{Name: EventReleased, ConnID: "007102719818001f", ThisDN: "7001", CallState: CallStateRemoteRelease,
		Reasons: KVList{"cause": "BYE"}, Time: t0, ThirdPartyDN: "7002", ThirdPartyDNRole: RoleTransferredBy,
		PreviousConnID: "007102719818001e"},
	{Name: RequestMonitorNextCall, ReferenceID: 3, ThisDN: "7100", OtherDN: "7001", MonitorMode: MonitorModeCoach,
		MonitorScope: MonitorScopeAgent},
}

func TestGoldenEncoding(t *testing.T) {
	for _, m := range goldenMessages {
		path := filepath.Join("testdata", "golden", m.Name+".json")
		got, err := Encode(m)
		require.NoError(t, err)
		if *update {
			require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
			require.NoError(t, os.WriteFile(path, got, 0o644))
		}
		want, err := os.ReadFile(path)
		require.NoError(t, err, "run go test -update to create %s", path)
		assert.Equal(t, string(want), string(got), m.Name)

		back, err := Decode(want)
		require.NoError(t, err)
		assert.Equal(t, m, back, m.Name)
		require.NoError(t, back.Validate())
	}
}

func TestEncodeIsOneLineWithoutHTMLEscaping(t *testing.T) {
	b, err := Encode(&Message{Name: EventAttachedDataChanged, UserData: KVList{"fn": "a<b>&c\nd"}})
	require.NoError(t, err)
	assert.Equal(t, `{"message":"EventAttachedDataChanged","UserData":{"fn":"a<b>&c\nd"}}`+"\n", string(b))
	assert.Equal(t, 1, bytes.Count(b, []byte("\n")))
}

func TestKVListValues(t *testing.T) {
	m, err := Decode([]byte(`{"message":"EventRinging","UserData":{"s":"x","i":42,"f":-2.5e3,"n":null,"z":0}}`))
	require.NoError(t, err)
	assert.Equal(t, KVList{"s": "x", "i": "42", "f": "-2.5e3", "z": "0"}, m.UserData)

	for _, v := range []string{`true`, `{"a":"b"}`, `["a"]`, `01`, `1.`, `-`, `"unterminated`} {
		_, err := Decode([]byte(`{"message":"EventRinging","UserData":{"k":` + v + `}}`))
		require.ErrorIs(t, err, ErrMalformed, v)
	}
	// json.Unmarshal uses the same rules.
	var kv KVList
	require.NoError(t, json.Unmarshal([]byte(`{"a":1,"b":"2"}`), &kv))
	assert.Equal(t, KVList{"a": "1", "b": "2"}, kv)
	require.Error(t, json.Unmarshal([]byte(`{"a":false}`), &kv))
	require.NoError(t, json.Unmarshal([]byte(`null`), &kv))
	assert.Nil(t, kv)
}

func TestValidate(t *testing.T) {
	ok := func(m Message) Message { return m }
	for _, tc := range []struct {
		m    Message
		code ErrorCode // 0 = valid
		attr string
	}{
		{ok(Message{Name: RequestOpen, ApplicationName: "a"}), 0, ""},
		{ok(Message{Name: RequestOpen}), ErrMissingAttribute, "ApplicationName"},
		{ok(Message{Name: ""}), ErrMalformed, ""},
		{ok(Message{Name: "RequestFly"}), ErrUnknownRequest, ""},
		{ok(Message{Name: EventRinging}), 0, ""},
		{ok(Message{Name: RequestRegisterAddress, ThisDN: "7001"}), 0, ""},
		{ok(Message{Name: RequestRegisterAddress, ThisDN: "7001", RegisterMode: ModePrivate}), 0, ""},
		{ok(Message{Name: RequestRegisterAddress}), ErrMissingAttribute, "ThisDN"},
		{ok(Message{Name: RequestRegisterAddress, ThisDN: "7001", RegisterMode: "ModeX"}), ErrInvalidAttribute, "RegisterMode"},
		{ok(Message{Name: RequestRegisterAddress, RegisterMode: ModeMonitorAll}), 0, ""},
		{ok(Message{Name: RequestRegisterAddress, ThisDN: "*", RegisterMode: ModeMonitorAll}), 0, ""},
		{ok(Message{Name: RequestRegisterAddress, ThisDN: "7001", RegisterMode: ModeMonitorAll}), ErrInvalidAttribute, "ThisDN"},
		{ok(Message{Name: RequestRegisterAddress, ThisDN: "*"}), ErrInvalidAttribute, "ModeMonitorAll"},
		{ok(Message{Name: RequestUnregisterAddress, ThisDN: "7001"}), 0, ""},
		{ok(Message{Name: RequestUnregisterAddress}), ErrMissingAttribute, "ThisDN"},
		{ok(Message{Name: RequestRouteCall, ThisDN: "5000", ConnID: "c", OtherDN: "7001"}), 0, ""},
		{ok(Message{Name: RequestRouteCall, ThisDN: "5000", OtherDN: "7001"}), ErrMissingAttribute, "ConnID"},
		{ok(Message{Name: RequestPrivateService, ThisDN: "7001", PrivateMsgID: 3013}), 0, ""},
		{ok(Message{Name: RequestPrivateService, ThisDN: "7001"}), ErrMissingAttribute, "PrivateMsgID"},
		{ok(Message{Name: RequestPrivateService, ThisDN: "7001", PrivateMsgID: -3}), ErrMissingAttribute, "PrivateMsgID"},
		{ok(Message{Name: RequestPrivateService, PrivateMsgID: 3013}), ErrMissingAttribute, "ThisDN"},
		{ok(Message{Name: RequestMonitorNextCall, ThisDN: "7100", OtherDN: "7001", MonitorMode: "coach", MonitorScope: "call"}), 0, ""},
		{ok(Message{Name: RequestMonitorNextCall, ThisDN: "7100", OtherDN: "7001", MonitorMode: "shout"}), ErrInvalidAttribute, "MonitorMode"},
		{ok(Message{Name: RequestMonitorNextCall, ThisDN: "7100", OtherDN: "7001", MonitorScope: "forever"}), ErrInvalidAttribute, "MonitorScope"},
		{ok(Message{Name: RequestMonitorNextCall, ThisDN: "7100"}), ErrMissingAttribute, "OtherDN"},
		{ok(Message{Name: RequestCancelMonitoring, ThisDN: "7100", OtherDN: "7001"}), 0, ""},
		{ok(Message{Name: RequestCancelMonitoring, ThisDN: "7100"}), ErrMissingAttribute, "OtherDN"},
		{ok(Message{Name: RequestAttachUserData, ThisDN: "7001", ConnID: "c", UserData: KVList{"a": "b"}}), 0, ""},
		{ok(Message{Name: RequestAttachUserData, ThisDN: "7001", ConnID: "c"}), ErrMissingAttribute, "UserData"},
		{ok(Message{Name: RequestUpdateUserData, ThisDN: "7001", UserData: KVList{"a": "b"}}), ErrMissingAttribute, "ConnID"},
		{ok(Message{Name: RequestDeleteUserData, ThisDN: "7001", ConnID: "c", UserData: KVList{"a": ""}}), 0, ""},
		{ok(Message{Name: RequestDeleteUserData, ThisDN: "7001", ConnID: "c"}), ErrMissingAttribute, "UserData"},
		{ok(Message{Name: RequestMakeCall, ThisDN: "7001", OtherDN: "7002"}), 0, ""},
		{ok(Message{Name: RequestMakeCall, OtherDN: "7002"}), ErrMissingAttribute, "ThisDN"},
		{ok(Message{Name: RequestAnswerCall, ThisDN: "7001", ConnID: "c"}), 0, ""},
		{ok(Message{Name: RequestReleaseCall, ThisDN: "7001"}), ErrMissingAttribute, "ConnID"},
		{ok(Message{Name: RequestHoldCall, ConnID: "c"}), ErrMissingAttribute, "ThisDN"},
		{ok(Message{Name: RequestRetrieveCall, ThisDN: "7001", ConnID: "c"}), 0, ""},
	} {
		name := fmt.Sprintf("%s/%d/%s", tc.m.Name, tc.code, tc.attr)
		err := tc.m.Validate()
		if tc.code == 0 {
			assert.NoError(t, err, name)
			continue
		}
		require.Error(t, err, name)
		assert.ErrorIs(t, err, tc.code, name)
		var te *Error
		require.ErrorAs(t, err, &te, name)
		assert.Contains(t, te.Message, tc.attr, name)
	}
}

func TestErrorMapping(t *testing.T) {
	e := Errorf(ErrUnknownDN, "9999")
	assert.ErrorIs(t, e, ErrUnknownDN)
	assert.NotErrorIs(t, e, ErrDNInUse)
	assert.Equal(t, "tlib: 3 unknown DN: 9999", e.Error())
	assert.Equal(t, "error code 77", ErrorCode(77).Error())

	assert.Equal(t, &Error{Code: ErrInvalidConnID}, asError(ErrInvalidConnID))
	assert.Equal(t, &Error{Code: ErrInvalidConnID, Message: "release x: invalid connection id"},
		asError(fmt.Errorf("release x: %w", ErrInvalidConnID)))
	assert.Equal(t, e, asError(fmt.Errorf("wrapped: %w", e)))
	assert.Equal(t, &Error{Code: ErrInternal, Message: "boom"}, asError(errors.New("boom")))

	ev := &Message{Name: EventError, ErrorCode: ErrTooLarge, ErrorMessage: "big"}
	assert.Equal(t, &Error{Code: ErrTooLarge, Message: "big"}, ev.Err())
	assert.Nil(t, (&Message{Name: EventACK}).Err())
}

func TestLogValueRedactsPassword(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, nil))
	l.Info("x", "msg", &Message{Name: RequestOpen, ReferenceID: 3, ApplicationName: "a", Password: "hunter2"})
	assert.NotContains(t, buf.String(), "hunter2")
	assert.Contains(t, buf.String(), "msg.Password=<redacted>")
	assert.Contains(t, buf.String(), "msg.ReferenceID=3")
}

func TestClone(t *testing.T) {
	m := &Message{Name: EventRinging, UserData: KVList{"a": "1"}, Extensions: KVList{"e": "1"}, Reasons: KVList{"r": "1"}}
	c := m.Clone()
	require.Equal(t, m, c)
	c.UserData["a"], c.Extensions["e"], c.Reasons["r"] = "2", "2", "2"
	assert.Equal(t, KVList{"a": "1"}, m.UserData)
	assert.Equal(t, KVList{"e": "1"}, m.Extensions)
	assert.Equal(t, KVList{"r": "1"}, m.Reasons)
}
