package load

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/arlab/arlab/pkg/recclient"
	"github.com/arlab/arlab/recorder"
)

func TestVerifierCheck(t *testing.T) {
	v := &verifier{log: testLogger()}
	client := recclient.New("127.0.0.1:1", "")
	call := expectedCall{callUUID: "load-x-000001", streams: []expectedStream{
		{label: LabelCustomer, ssrc: 1, sent: 100}, {label: LabelAgent, ssrc: 2, sent: 100}}}
	rec := func(state recorder.State, customer, customerLate, agent uint64) found {
		return found{client: client, rec: recorder.Recording{ID: "r1", CallUUID: call.callUUID, State: state, Channels: []recorder.ChannelInfo{
			{Index: 0, Label: LabelCustomer, Stats: recorder.StreamStats{Packets: customer, Late: customerLate}},
			{Index: 1, Label: LabelAgent, Stats: recorder.StreamStats{Packets: agent}},
		}}}
	}
	tests := []struct {
		name     string
		recs     []found
		found    bool
		written  [2]uint64
		lost     [2]uint64
		problems []string
	}{
		{name: "all written", recs: []found{rec(recorder.StateComplete, 100, 0, 100)}, found: true, written: [2]uint64{100, 100}},
		{name: "late packets are not written", recs: []found{rec(recorder.StateComplete, 100, 3, 100)}, found: true,
			written: [2]uint64{97, 100}, lost: [2]uint64{3, 0}, problems: []string{`stream "customer": 3 of 100 packets not written`}},
		{name: "lost packets", recs: []found{rec(recorder.StateComplete, 100, 0, 90)}, found: true,
			written: [2]uint64{100, 90}, lost: [2]uint64{0, 10}, problems: []string{`stream "agent": 10 of 100 packets not written`}},
		{name: "missing", recs: nil, lost: [2]uint64{100, 100}, problems: []string{"no recording"}},
		{name: "not complete", recs: []found{rec(recorder.StateFailed, 100, 0, 100)}, found: true,
			written: [2]uint64{100, 100}, problems: []string{"state failed"}},
		{name: "the complete one of two wins", recs: []found{rec(recorder.StateFailed, 0, 0, 0), rec(recorder.StateComplete, 100, 0, 100)},
			found: true, written: [2]uint64{100, 100}, problems: []string{"2 recordings for one call"}},
		{name: "stream not recorded", recs: []found{{client: client, rec: recorder.Recording{ID: "r2", State: recorder.StateComplete,
			Channels: []recorder.ChannelInfo{{Label: LabelAgent, Stats: recorder.StreamStats{Packets: 100}}}}}}, found: true,
			written: [2]uint64{0, 100}, lost: [2]uint64{100, 0},
			problems: []string{`stream "customer" not recorded`, `stream "customer": 100 of 100 packets not written`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			item, f := v.check(call, tc.recs)
			assert.Equal(t, tc.found, f != nil)
			assert.Equal(t, tc.problems, item.Problems)
			for k := range 2 {
				assert.Equal(t, tc.written[k], item.Streams[k].Written, "stream %d written", k)
				assert.Equal(t, tc.lost[k], item.Streams[k].Lost, "stream %d lost", k)
				assert.Equal(t, uint64(100), item.Streams[k].Sent)
			}
			assert.Equal(t, tc.lost != [2]uint64{}, lost(item))
		})
	}
}
