package mediaserver

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/msml"
)

// TestMSMLErrors: every refusal is a clear SIP 4xx carrying the MSML result
// code and description, and a Warning header naming it.
func TestMSMLErrors(t *testing.T) {
	b := newBridge(t, "c1", nil, nil)
	srs := newStubSRS(t)
	startRecording(t, b, "rec-1", msml.Record{Dests: []msml.Dest{{URI: srs.uri("srs")}}})
	must := func(r *msml.Request) []byte {
		out, err := r.Marshal()
		require.NoError(t, err)
		return out
	}
	tests := []struct {
		name     string
		body     []byte
		sipCode  int
		msmlCode int
		desc     string
	}{
		{"malformed", []byte("<msml version='1.1'><dialogend"), 400, 400, "well-formed"},
		{"unknown element", []byte(`<msml version="1.1"><recordit/></msml>`), 400, 401, "recordit"},
		{"unsupported element", []byte(`<msml version="1.1"><createconference/></msml>`), 400, 402, "createconference"},
		{"unknown attribute", []byte(`<msml version="1.1"><dialogend id="conf:c1/dialog:rec-1" force="yes"/></msml>`), 400, 406, "force"},
		{"unknown recording", must(msml.NewPause("c1", "rec-9")), 404, 430, "rec-9"},
		{"other conference", must(msml.NewPause("c2", "rec-1")), 404, 430, "c2"},
		{"recording id in use", must(msml.NewRecord("c1", "rec-1", msml.Record{Dests: []msml.Dest{{URI: srs.uri("srs")}}})), 400, 431, "already"},
		{"file outside local-dir", must(msml.NewRecord("c1", "rec-2", msml.Record{Dests: []msml.Dest{{URI: "file:///etc"}}})), 400, 410, "outside"},
		{"no destination", must(msml.NewRecord("c1", "rec-3", msml.Record{})), 400, 410, "default-destination"},
		{"unknown recorded DN", must(msml.NewRecord("c1", "rec-4", msml.Record{RecordDN: "9999", Dests: []msml.Dest{{URI: "file:"}}})), 404, 430, "9999"},
		{"no tls listener", must(msml.NewRecord("c1", "rec-5", msml.Record{Transport: "tls", Dests: []msml.Dest{{URI: srs.uri("x")}}})), 400, 410, "tls"},
		{"join a party", must(msml.NewJoin("c1", agentDN, msml.JoinMute, "")), 400, 410, "party"},
		{"unjoin nobody", must(msml.NewUnjoin("c1", superDN)), 404, 430, superDN},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := b.stub.info(agentDN, msml.ContentType, tc.body)
			assert.Equal(t, tc.sipCode, res.StatusCode)
			result, err := msml.ParseResult(res.Body())
			require.NoError(t, err)
			assert.Equal(t, tc.msmlCode, result.Code)
			assert.Contains(t, result.Description, tc.desc)
			w := res.GetHeader("Warning")
			require.NotNil(t, w)
			assert.Contains(t, w.Value(), "MSML")
		})
	}

	t.Run("wrong content type", func(t *testing.T) {
		res := b.stub.info(agentDN, "application/json", []byte(`{"record":true}`))
		assert.Equal(t, 415, res.StatusCode)
		assert.Equal(t, msml.ContentType, res.GetHeader("Accept").Value())
	})
	t.Run("too large", func(t *testing.T) {
		res := b.stub.info(agentDN, msml.ContentType, []byte(strings.Repeat(" ", msml.MaxSize+1)))
		assert.Equal(t, 413, res.StatusCode)
	})
	t.Run("unknown dialog", func(t *testing.T) {
		req := sip.NewRequest(sip.INFO, sip.Uri{User: "ms1", Host: "127.0.0.1", Port: int(b.ms.SIPAddr("udp").Port())})
		req.AppendHeader(sip.NewHeader("Content-Type", msml.ContentType))
		req.SetBody(must(msml.NewStop("c1", "rec-1")))
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		res, err := b.stub.cli.Do(ctx, req)
		require.NoError(t, err)
		assert.Equal(t, 481, res.StatusCode)
	})
	// The recording survived all of it.
	assert.Len(t, b.ms.Conferences()[0].Recordings, 1)
}

// TestLegRefusals: INVITEs that are not media-control legs are refused with
// a clear status.
func TestLegRefusals(t *testing.T) {
	ms := newTestServer(t, func(c *Config) { c.MaxConferences = 1 })
	stub := newSIPStub(t, ms.SIPAddr("udp"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	party := newRawParty(t)
	offer := party.sdp(0, "").Marshal()

	invite := func(user string, params map[string]string, body []byte, ct string) int {
		u := sip.Uri{User: user, Host: "127.0.0.1", Port: int(ms.SIPAddr("udp").Port()), UriParams: sip.NewParams()}
		for k, v := range params {
			u.UriParams.Add(k, v)
		}
		req := sip.NewRequest(sip.INVITE, u)
		if body != nil {
			req.AppendHeader(sip.NewHeader("Content-Type", ct))
			req.SetBody(body)
		}
		res, err := stub.cli.Do(ctx, req)
		require.NoError(t, err)
		return res.StatusCode
	}
	assert.Equal(t, 404, invite("bob", map[string]string{"dn": "7001"}, offer, "application/sdp"))
	assert.Equal(t, 404, invite("msml=bad/conf", map[string]string{"dn": "7001"}, offer, "application/sdp"))
	assert.Equal(t, 415, invite("msml=c1", map[string]string{"dn": "7001"}, []byte("x"), "text/plain"))
	assert.Equal(t, 488, invite("msml=c1", map[string]string{"dn": "7001"}, []byte("v=0\r\nm=video 0 RTP/AVP 31\r\n"), "application/sdp"))

	l, err := stub.openLeg(ctx, "c1", "7001", offer)
	require.NoError(t, err)
	require.NoError(t, l.uac.Ack(ctx))
	assert.Equal(t, 486, invite("msml=c1", map[string]string{"dn": "7001"}, offer, "application/sdp"), "DN already in the conference")
	assert.Equal(t, 503, invite("msml=c2", map[string]string{"dn": "7002"}, offer, "application/sdp"), "max-conferences")
	assert.Len(t, ms.Conferences(), 1)
}
