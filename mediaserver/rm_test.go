package mediaserver

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/msml"
	"github.com/arlab/arlab/pkg/siprec"
	"github.com/arlab/arlab/recorder"
	"github.com/arlab/arlab/resourcemanager"
)

// TestFailoverThroughResourceManager: recording sessions go through the
// Resource Manager (hunt policy over two recorders). When the recorder in use
// goes away mid-call, the media server reports it and re-establishes the
// session through the RM, which places it on the other recorder: same
// recording id, continuation marked in the metadata, the call untouched.
func TestFailoverThroughResourceManager(t *testing.T) {
	t.Parallel() // long: mostly waiting for audio
	rec1 := newRecorder(t, "rec1", nil)
	rec2 := newRecorder(t, "rec2", nil)
	member := func(r *recorder.Recorder) resourcemanager.MemberConfig {
		return resourcemanager.MemberConfig{Name: r.Config().Name, URI: fmt.Sprintf("sip:%s;transport=tcp", r.SIPAddr("tcp"))}
	}
	rmCfg := resourcemanager.Config{
		SIP:           resourcemanager.Listen{TCP: "127.0.0.1:0"},
		InviteTimeout: time.Second,
		Groups: []resourcemanager.GroupConfig{{Name: "recorders", Kind: resourcemanager.KindRecorder,
			Policy: resourcemanager.PolicyHunt, Members: []resourcemanager.MemberConfig{member(rec1), member(rec2)}}},
	}
	rm, err := resourcemanager.New(rmCfg, resourcemanager.WithLogger(testLogger()))
	require.NoError(t, err)
	require.NoError(t, rm.Start(context.Background()))
	t.Cleanup(func() { _ = rm.Close() })
	rmAddr := rm.SIPAddr("tcp").String()

	b := newBridge(t, "c1", func(c *Config) {
		c.Failover = true
		c.ResourceManager = rmAddr
		c.DefaultDestination = "sip:record@" + rmAddr
	}, nil)
	b.stub.do(agentDN, msml.NewRecord("c1", "rec-rm", msml.Record{CallUUID: "01CALLRM"}))
	started := b.stub.waitEvent(msml.EventRecordStarted, 5*time.Second)
	assert.Equal(t, "sip:record@"+rmAddr, started.Get(msml.ParamDest))
	time.Sleep(time.Second) // audio on the first recorder
	require.NoError(t, rec1.Close())

	failed := b.stub.waitEvent(msml.EventRecordFailed, 5*time.Second)
	assert.Equal(t, "true", failed.Get(msml.ParamRecovering))
	b.stub.waitEvent(msml.EventRecordRecovered, 10*time.Second)
	time.Sleep(time.Second) // audio on the second recorder
	b.stub.do(agentDN, msml.NewStop("c1", "rec-rm"))

	f1 := finishedIn(t, rec1.Config().DataDir, "01CALLRM")
	r2, f2 := finished(t, rec2, "01CALLRM")
	assert.Equal(t, "rec-rm", r2.SRCRecordID)
	meta, err := os.ReadFile(rec2.Store().Path(r2, recorder.MetadataFile))
	require.NoError(t, err)
	md, err := siprec.ParseMetadata(meta)
	require.NoError(t, err)
	require.NotNil(t, md.CallData)
	assert.True(t, md.CallData.Continuation, "the second recorder's session is marked as a continuation")
	for ch, tone := range []float64{agentTone, customerTone} {
		toneSpan(t, f1.Samples[ch], 0.1, 0.8, tone, "before the failure")
		toneSpan(t, f2.Samples[ch], 0.1, 0.8, tone, "after the failover")
	}
	assert.True(t, heardFor(b.agentCall.Media().Received(), 2*time.Second, customerTone), "the call was not disturbed")
}
