package scenario

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/tlib"
)

// synth builds audio from (freq, duration) pieces; freq 0 is silence.
func synth(pieces ...any) []int16 {
	var out []int16
	for i := 0; i+1 < len(pieces); i += 2 {
		hz, d := pieces[i].(float64), pieces[i+1].(time.Duration)
		n := int(d.Seconds() * audio.SampleRate)
		buf := make([]int16, n)
		if hz > 0 {
			audio.NewTone(hz, 0).Read(buf)
		}
		out = append(out, buf...)
	}
	return out
}

func TestAudioVerify(t *testing.T) {
	const me, other = 1800.0, 2200.0
	cands := []float64{me, other}
	held := synth(me, 1500*time.Millisecond, 0.0, time.Second, me, 1500*time.Millisecond)
	tests := []struct {
		name    string
		c       audioExpect
		samples []int16
		tl      []float64
		want    string // "" = passes
	}{
		{"tone heard", audioExpect{party: "p", tone: &toneRef{}, minTone: time.Second, maxOther: 60 * time.Millisecond},
			synth(me, 2*time.Second), nil, ""},
		{"too little tone", audioExpect{party: "p", tone: &toneRef{}, minTone: 3 * time.Second, maxOther: 60 * time.Millisecond},
			synth(me, 2*time.Second), nil, "p heard the 1800 Hz tone for 2s, expected at least 3s; heard [1800 Hz 2s]"},
		{"another party heard", audioExpect{party: "p", tone: &toneRef{}, minTone: time.Second, maxOther: 60 * time.Millisecond},
			synth(me, 2*time.Second, other, 500*time.Millisecond), nil,
			"p heard 500ms of audio that is not the 1800 Hz tone (max-other 60ms); heard [1800 Hz 2s, 2200 Hz 500ms]"},
		{"hold silence in range", audioExpect{party: "p", silence: &approx{d: time.Second, tol: 200 * time.Millisecond, set: true}},
			held, nil, ""},
		{"hold silence out of range", audioExpect{party: "p", silence: &approx{d: 2 * time.Second, tol: 200 * time.Millisecond, set: true}},
			held, nil, "p heard 1s of silence, expected 2s±200ms"},
		{"timeline", audioExpect{party: "p", timeline: []segSpec{
			{tone: &toneRef{}, dur: approx{d: 1500 * time.Millisecond, tol: 100 * time.Millisecond, set: true}},
			{dur: approx{d: time.Second, tol: 100 * time.Millisecond, set: true}},
			{tone: &toneRef{}}}}, held, []float64{me, 0, me}, ""},
		{"timeline too short", audioExpect{party: "p", timeline: []segSpec{{tone: &toneRef{}}}}, held, []float64{me},
			"p heard 3 segments, the timeline expects 1; heard [1800 Hz 1.5s, silence 1s, 1800 Hz 1.5s]"},
		{"timeline wrong tone", audioExpect{party: "p", timeline: []segSpec{{tone: &toneRef{}}, {}, {tone: &toneRef{}}}},
			held, []float64{other, 0, other}, "p: timeline segment 1 is 1800 Hz, expected the 2200 Hz tone"},
		{"timeline segment length", audioExpect{party: "p", timeline: []segSpec{{tone: &toneRef{}},
			{dur: approx{d: 500 * time.Millisecond, tol: 100 * time.Millisecond, set: true}}, {tone: &toneRef{}}}},
			held, []float64{me, 0, me}, "p: timeline segment 2 (silence) lasted 1s, expected 500ms±100ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.verify(tc.samples, cands, me, tc.tl)
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestRunsAbsorbGlitches(t *testing.T) {
	// A 20 ms blip of another tone and a 40 ms gap are not segments.
	s := synth(1800.0, time.Second, 2200.0, 20*time.Millisecond, 1800.0, time.Second, 0.0, 40*time.Millisecond, 1800.0, 500*time.Millisecond)
	runs := runsOf(s, []float64{1800, 2200})
	require.Len(t, runs, 1, describeRuns(runs))
	assert.InDelta(t, 2.5, runs[0].d.Seconds(), 0.07)
}

func TestApprox(t *testing.T) {
	p := &parser{file: "t.yaml"}
	for in, want := range map[string]approx{
		"1s±200ms":     {d: time.Second, tol: 200 * time.Millisecond, set: true},
		"1s +- 200ms":  {d: time.Second, tol: 200 * time.Millisecond, set: true},
		"1500ms":       {d: 1500 * time.Millisecond, tol: 50 * time.Millisecond, set: true},
		"0s±100ms":     {d: 0, tol: 100 * time.Millisecond, set: true},
		"0":            {d: 0, tol: 50 * time.Millisecond, set: true},
		"2m30s±1.5s":   {d: 150 * time.Second, tol: 1500 * time.Millisecond, set: true},
		"1s ± 0":       {d: time.Second, tol: 0, set: true},
		"-1s±1s":       {},
		"soon":         {},
		"1s±sometimes": {},
	} {
		got := p.approx(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: in, Line: 1, Column: 1}, "x", 50*time.Millisecond)
		assert.Equal(t, want, got, in)
	}
	assert.True(t, approx{d: time.Second, tol: 100 * time.Millisecond}.ok(1100*time.Millisecond))
	assert.False(t, approx{d: time.Second, tol: 100 * time.Millisecond}.ok(1101*time.Millisecond))
	assert.Equal(t, "1s±100ms", approx{d: time.Second, tol: 100 * time.Millisecond}.String())
}

func TestMatchers(t *testing.T) {
	v := newVars()
	v.set("c", map[string]string{"id": "42"})
	parse := func(src string) matcher {
		var n yaml.Node
		require.NoError(t, yaml.Unmarshal([]byte(src), &n))
		p := &parser{file: "t.yaml"}
		m := p.matcher(n.Content[0], "x")
		require.Empty(t, p.errs)
		return m
	}
	tests := []struct {
		src, got string
		ok       bool
		desc     string
	}{
		{`"abc"`, "abc", true, ""},
		{`"abc"`, "abd", false, `"abc"`},
		{`"id-${c.id}"`, "id-42", true, ""},
		{`{re: "^conn-[0-9]+$"}`, "conn-17", true, ""},
		{`{re: "^conn-[0-9]+$"}`, "conn-x", false, "matching /^conn-[0-9]+$/"},
		{`{re: "^${c.id}$"}`, "42", true, ""},
		{`{present: true}`, "", false, "present"},
		{`{present: false}`, "", true, ""},
		{`{not: "OFF"}`, "ON", true, ""},
		{`{not: "OFF"}`, "OFF", false, `not "OFF"`},
		{`{one-of: [ON, PAUSED]}`, "PAUSED", true, ""},
		{`{one-of: [ON, PAUSED]}`, "OFF", false, `one of "ON", "PAUSED"`},
		{`{contains: "${c.id}"}`, "x42y", true, ""},
	}
	for _, tc := range tests {
		ok, desc, err := parse(tc.src).match(tc.got, v)
		require.NoError(t, err, tc.src)
		assert.Equal(t, tc.ok, ok, "%s vs %q", tc.src, tc.got)
		if !tc.ok {
			assert.Equal(t, tc.desc, desc)
		}
	}
	_, _, err := parse(`"${c.nope}"`).match("x", v)
	assert.ErrorContains(t, err, `"c" has no field "nope"; it has id`)
}

func TestTemplates(t *testing.T) {
	parts, err := parseTemplate("a${x.y.z}b$$c${w}$", Pos{Line: 3})
	require.NoError(t, err)
	require.Len(t, parts, 5)
	assert.Equal(t, "a", parts[0].lit)
	assert.Equal(t, varRef{name: "x", field: "y.z", pos: Pos{Line: 3}}, *parts[1].ref)
	assert.Equal(t, "b$c", parts[2].lit)
	assert.Equal(t, "w", parts[3].ref.name)
	assert.Equal(t, "$", parts[4].lit)
	for _, bad := range []string{"${", "${x", "${.y}", "${1x}", "${}"} {
		_, err := parseTemplate(bad, Pos{})
		assert.Error(t, err, bad)
	}
	v := newVars()
	t.Setenv("ARLAB_SCN_TEST", "yes")
	s, err := tmpl{parts: []tpart{{ref: &varRef{name: "env", field: "ARLAB_SCN_TEST"}}}}.expand(v)
	require.NoError(t, err)
	assert.Equal(t, "yes", s)
	_, err = tmpl{parts: []tpart{{ref: &varRef{name: "env", field: "ARLAB_SCN_UNSET_X"}}}}.expand(v)
	assert.ErrorContains(t, err, "environment variable ARLAB_SCN_UNSET_X is not set")
}

func TestFlattenAndBuildRequest(t *testing.T) {
	m := &tlib.Message{Name: tlib.EventAttachedDataChanged, ThisDN: "7001", ConnID: "c1", PrivateMsgID: 3013,
		ReferenceID: 9, UserData: tlib.KVList{"GSIP_RECORD": "ON"}, Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	f := flatten(m)
	assert.Equal(t, map[string]string{"event": "EventAttachedDataChanged", "ThisDN": "7001", "ConnID": "c1",
		"PrivateMsgID": "3013", "ReferenceID": "9", "UserData.GSIP_RECORD": "ON", "Time": "2025-01-02T03:04:05Z"}, f)

	v := newVars()
	v.set("call1", map[string]string{"ConnID": "c9"})
	attrs := []reqAttr{
		{info: tlibAttrs["ThisDN"], val: lit("7001")},
		{info: tlibAttrs["ConnID"], val: tmpl{parts: []tpart{{ref: &varRef{name: "call1", field: "ConnID"}}}}},
		{info: tlibAttrs["PrivateMsgID"], val: lit("GSIP_RECORD_PAUSE")},
		{info: tlibAttrs["Extensions"], kv: []kvPair{{key: "record", val: lit("source")}}},
	}
	req, err := buildRequest(tlib.RequestPrivateService, attrs, v, map[string]int{"GSIP_RECORD_PAUSE": 4015})
	require.NoError(t, err)
	assert.Equal(t, &tlib.Message{Name: tlib.RequestPrivateService, ThisDN: "7001", ConnID: "c9", PrivateMsgID: 4015,
		Extensions: tlib.KVList{"record": "source"}}, req)
	require.NoError(t, req.Validate())

	_, err = buildRequest(tlib.RequestPrivateService, []reqAttr{{info: tlibAttrs["PrivateMsgID"], val: lit("x")}}, v, nil)
	assert.ErrorContains(t, err, `PrivateMsgID: "x" is not a number`)
}

func TestSuggest(t *testing.T) {
	assert.Equal(t, "steps", suggest("step", scenarioKeys))
	assert.Equal(t, "ThisDN", suggest("thisdn", tlibAttrNames))
	assert.Equal(t, "auto-answer", suggest("autoanswer", partyKeys))
	assert.Equal(t, "", suggest("zzzzzz", partyKeys))
	assert.Equal(t, "", suggest("x", []string{"y"}), "one letter is no typo of another")
}
