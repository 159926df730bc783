package resourcemanager

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDialogThroughProxy places a recording session and walks the whole
// dialog through the RM: Record-Route, ACK, INFO and re-INVITE by Route, BYE,
// and the member's active count going up and down.
func TestDialogThroughProxy(t *testing.T) {
	for _, tc := range []struct{ caller, member string }{
		{"udp", "udp"}, {"tcp", "tcp"}, {"udp", "tcp"}, {"tcp", "udp"},
	} {
		t.Run(tc.caller+"-to-"+tc.member, func(t *testing.T) {
			rec := newStandin(t, "rec1", tc.member)
			r := startRM(t, testConfig(GroupConfig{Name: "recorders", Kind: KindRecorder, Members: members(rec)}))
			u := newUAC(t, tc.caller)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()

			d, err := u.call(ctx, r.testURI("record=r1", tc.caller, "calluuid=CU1", "dn=7001"))
			require.NoError(t, err)
			defer d.Close()
			assert.Equal(t, "rec1", answeredBy(d))

			// The member got the Request-URI's user and parameters, and the
			// RM's Via on top with the UDP listener's port.
			rec.mu.Lock()
			inv := rec.lastInv
			rec.mu.Unlock()
			assert.Equal(t, "record=r1", inv.Recipient.User)
			assert.Equal(t, "CU1", uriParam(inv.Recipient, "calluuid"))
			via := inv.Via()
			assert.Equal(t, strings.ToUpper(tc.member), via.Transport)
			assert.Equal(t, int(r.SIPAddr(tc.member).Port()), via.Port)
			assert.Equal(t, 69, int(inv.MaxForwards().Val()), "Max-Forwards decremented")

			// One Record-Route per transport the dialog uses (RFC 5658).
			rrs := d.InviteResponse.GetHeaders("Record-Route")
			want := 1
			if tc.caller != tc.member {
				want = 2
			}
			require.Len(t, rrs, want)
			assert.Contains(t, rrs[len(rrs)-1].Value(), "transport="+tc.caller)
			assert.Contains(t, rrs[0].Value(), "transport="+tc.member)

			require.Eventually(t, func() bool { return rec.acks.Load() == 1 }, 2*time.Second, 5*time.Millisecond, "ACK routed")
			assert.Equal(t, 1, r.member(t, "recorders", "rec1").Active)

			info := sip.NewRequest(sip.INFO, d.InviteResponse.Contact().Address)
			info.AppendHeader(sip.NewHeader("Content-Type", "application/msml+xml"))
			info.SetBody([]byte("<msml/>"))
			res, err := d.Do(ctx, info)
			require.NoError(t, err)
			assert.Equal(t, 200, res.StatusCode)
			assert.EqualValues(t, 1, rec.infos.Load())

			reinv := sip.NewRequest(sip.INVITE, d.InviteResponse.Contact().Address)
			reinv.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
			reinv.SetBody([]byte(testSDP))
			res, err = d.Do(ctx, reinv)
			require.NoError(t, err)
			assert.Equal(t, 200, res.StatusCode)
			assert.EqualValues(t, 1, rec.reinvites.Load())
			assert.Equal(t, 1, r.member(t, "recorders", "rec1").Active, "a re-INVITE is no new session")

			require.NoError(t, d.Bye(ctx))
			assert.EqualValues(t, 1, rec.byes.Load())
			assert.Equal(t, 0, r.member(t, "recorders", "rec1").Active)
			assert.Equal(t, 0, r.sessions.len())
		})
	}
}

// TestSIPRECInvite: a SIPREC INVITE (Require: siprec, multipart SDP +
// metadata, larger than sipgo's default 1300-byte UDP limit) is placed on a
// recorder over UDP and reaches it byte for byte.
func TestSIPRECInvite(t *testing.T) {
	rec := newStandin(t, "rec1", "udp")
	r := startRM(t, testConfig(recorders(PolicyHunt, rec)))
	u := newUAC(t, "udp")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	var b strings.Builder
	b.WriteString("--BOUNDARY\r\nContent-Type: application/sdp\r\n\r\n" + testSDP + strings.Replace(testSDP, "v=0\r\n", "", 1))
	b.WriteString("--BOUNDARY\r\nContent-Type: application/rs-metadata+xml\r\nContent-Disposition: recording-session\r\n\r\n")
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\r\n" + `<recording xmlns="urn:ietf:params:xml:ns:recording:1">` + "\r\n")
	for i := range 20 {
		fmt.Fprintf(&b, "  <participant participant_id=\"p%d\"><nameID aor=\"sip:7001@lab\"/></participant>\r\n", i)
	}
	b.WriteString("</recording>\r\n--BOUNDARY--\r\n")
	body := b.String()
	require.Greater(t, len(body), 1500)

	var target sip.Uri
	require.NoError(t, sip.ParseUri(r.testURI("srs", "udp"), &target))
	d, err := u.dua.Invite(ctx, target, []byte(body),
		sip.NewHeader("Content-Type", "multipart/mixed;boundary=BOUNDARY"),
		sip.NewHeader("Require", "siprec"))
	require.NoError(t, err)
	defer d.Close()
	require.NoError(t, d.WaitAnswer(ctx, sipgo.AnswerOptions{}))
	require.NoError(t, d.Ack(ctx))
	rec.mu.Lock()
	got := rec.lastInv
	rec.mu.Unlock()
	assert.Equal(t, body, string(got.Body()))
	assert.Equal(t, "siprec", got.GetHeader("Require").Value())
	require.NoError(t, d.Bye(ctx))
}
