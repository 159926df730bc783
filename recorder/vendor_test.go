package recorder

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vendorDir is pkg/siprec's corpus of SIPREC INVITEs shaped like real SRCs'.
const vendorDir = "../pkg/siprec/testdata/vendors"

type vendorExpect struct {
	code     int
	reason   string // substring of the reason phrase of a refusal
	channels int
	labels   []string
	aors     int    // participants parsed
	callUUID string // joined call id, if the vendor carries one
	dn       string // a DN the recording must be findable by
	warning  string // substring of one warning
}

var vendorCases = map[string]vendorExpect{
	"audiocodes_sbc_legacy.txt": {code: 200, channels: 2, labels: []string{"1", "2"}, aors: 2,
		callUUID: "01ABCDEF2GH3JK4LMN5PQ6RS7T", dn: "7002", warning: "application/rs-metadata"},
	// Avaya SBCE keys carry an MKI (|1:4): not supported, refused with a reason saying so.
	"avaya_sbce.txt":            {code: 488, reason: "crypto"},
	"broadworks_ims.txt":        {code: 200, channels: 2, labels: []string{"10", "20"}, aors: 2, dn: "+15551234567"},
	"cisco_cube.txt":            {code: 200, channels: 2, labels: []string{"1", "2"}, aors: 2, dn: "2001"},
	"freeswitch_mod_siprec.txt": {code: 200, channels: 1, aors: 2, dn: "1005", warning: "a=label"},
	// Metaswitch: one mixed m-line carrying both parties.
	"metaswitch_mixed.txt": {code: 200, channels: 1, labels: []string{"1"}, aors: 2, dn: "7602920001"},
	"opensips_custom.txt":  {code: 200, channels: 2, labels: []string{"0", "1"}, aors: 2},
	"oracle_acme_sbc.txt":  {code: 200, channels: 2, labels: []string{"16777301", "16777302"}, aors: 2, dn: "7001"},
	"sonus_ribbon.txt":     {code: 200, channels: 2, labels: []string{"1", "2"}, aors: 2, dn: "2249888500"},
}

// TestVendorCorpusThroughSIP sends every vendor-shaped INVITE of the corpus to a running
// recorder over TCP: each is accepted (and recorded, indexed, parsed) or refused with a
// reason phrase that explains why.
func TestVendorCorpusThroughSIP(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(vendorDir, "*.txt"))
	require.NoError(t, err)
	if len(files) == 0 {
		t.Skip("pkg/siprec vendor corpus not present")
	}
	require.GreaterOrEqual(t, len(files), 8)
	r := startRecorder(t, nil)
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(strings.TrimSuffix(name, ".txt"), func(t *testing.T) {
			want, ok := vendorCases[name]
			if !ok {
				t.Skipf("no expectation for new corpus file %s", name)
			}
			raw, err := os.ReadFile(file)
			require.NoError(t, err)
			c := dialRaw(t, r.SIPAddr("tcp").String())
			msg := c.normalize(string(raw))
			c.send(msg)
			res := c.final()
			require.Equal(t, want.code, res.StatusCode, res.Reason)
			if want.code != 200 {
				assert.Contains(t, strings.ToLower(res.Reason), want.reason)
				return
			}
			inv, err := sip.ParseMessage(msg)
			require.NoError(t, err)
			req := inv.(*sip.Request)
			c.send(c.inDialog("ACK", req, res, req.CSeq().SeqNo))
			assert.Contains(t, res.Contact().String(), "+sip.srs")
			c.send(c.inDialog("BYE", req, res, req.CSeq().SeqNo+1))
			require.Equal(t, 200, c.final().StatusCode)

			page, err := r.Store().Search(context.Background(), Query{})
			require.NoError(t, err)
			var rec *Recording
			for _, x := range page.Recordings {
				if x.SIPCallID == req.CallID().Value() {
					rec = x
				}
			}
			require.NotNil(t, rec, "recording indexed")
			assert.Equal(t, StateComplete, rec.State)
			require.Len(t, rec.Channels, want.channels)
			if want.labels != nil {
				var labels []string
				for _, ch := range rec.Channels {
					labels = append(labels, ch.Label)
				}
				assert.Equal(t, want.labels, labels)
			}
			assert.Len(t, rec.Participants, want.aors)
			if want.callUUID != "" {
				assert.Equal(t, want.callUUID, rec.CallUUID)
			}
			if want.dn != "" {
				p, err := r.Store().Search(context.Background(), Query{DN: want.dn})
				require.NoError(t, err)
				found := false
				for _, x := range p.Recordings {
					found = found || x.ID == rec.ID
				}
				assert.True(t, found, "findable by DN %s (DNs %v)", want.dn, rec.DNs)
			}
			if want.warning != "" {
				assert.Contains(t, strings.Join(rec.Warnings, "\n"), want.warning)
			}
			_, err = os.Stat(r.Store().Path(rec, MetadataFile))
			assert.NoError(t, err, "metadata stored as received")
		})
	}
}
