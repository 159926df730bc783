package media

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEventCodes(t *testing.T) {
	digits := "0123456789*#ABCD"
	for i, d := range digits {
		code, err := eventCode(d)
		require.NoError(t, err)
		assert.Equal(t, uint8(i), code, string(d))
		back, ok := eventDigit(code)
		require.True(t, ok)
		assert.Equal(t, d, back)
	}
	code, err := eventCode('c')
	require.NoError(t, err)
	assert.Equal(t, uint8(14), code)
	for _, bad := range []rune{'E', 'e', 'x', ' ', 0, '٣'} {
		_, err := eventCode(bad)
		assert.ErrorIs(t, err, ErrInvalidDigit, string(bad))
	}
	_, ok := eventDigit(16) // flash
	assert.False(t, ok)
}

func TestEventPayload(t *testing.T) {
	tests := []struct {
		p    eventPayload
		wire [4]byte
	}{
		{eventPayload{code: 5, volume: 10, duration: 160}, [4]byte{5, 10, 0, 160}},
		{eventPayload{code: 11, end: true, volume: 63, duration: 0xffff}, [4]byte{11, 0x80 | 63, 0xff, 0xff}},
		{eventPayload{code: 0, volume: 0, duration: 800, end: true}, [4]byte{0, 0x80, 3, 32}},
	}
	for _, tc := range tests {
		var b [4]byte
		tc.p.marshal(&b)
		assert.Equal(t, tc.wire, b)
		got, ok := parseEventPayload(b[:])
		require.True(t, ok)
		assert.Equal(t, tc.p, got)
	}
	// The reserved bit is ignored; volume is masked to 6 bits.
	got, ok := parseEventPayload([]byte{1, 0x40 | 7, 0, 1, 99})
	require.True(t, ok)
	assert.Equal(t, eventPayload{code: 1, volume: 7, duration: 1}, got)
	_, ok = parseEventPayload([]byte{1, 2, 3})
	assert.False(t, ok)
}

func TestEventTxPlan(t *testing.T) {
	tx, err := newEventTx(DTMFEvent{Digit: '1'}, 160, 20*time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, 5, tx.frames, "default 100 ms")
	assert.Equal(t, 7, tx.ticks())

	tx, err = newEventTx(DTMFEvent{Digit: '1', Duration: time.Millisecond, Volume: 200}, 160, 20*time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, 1, tx.frames)
	assert.Equal(t, uint8(63), tx.volume)
	var seen []eventPayload
	var markers []bool
	for {
		p, m, done := tx.next()
		seen = append(seen, p)
		markers = append(markers, m)
		if done {
			break
		}
	}
	assert.Equal(t, []bool{true, false, false}, markers)
	for _, p := range seen {
		assert.True(t, p.end)
		assert.Equal(t, uint16(160), p.duration)
	}

	// 16 bits of 8 kHz timestamp hold 8.19 s.
	tx, err = newEventTx(DTMFEvent{Digit: '1', Duration: time.Minute}, 160, 20*time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, 409, tx.frames)

	_, err = newEventTx(DTMFEvent{Digit: '?'}, 160, 20*time.Millisecond)
	assert.ErrorIs(t, err, ErrInvalidDigit)
}

func FuzzParseEventPayload(f *testing.F) {
	f.Add([]byte{5, 0x8a, 0, 160})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, ok := parseEventPayload(b)
		if !ok {
			require.Less(t, len(b), 4)
			return
		}
		var out [4]byte
		p.marshal(&out)
		again, ok := parseEventPayload(out[:])
		require.True(t, ok)
		require.Equal(t, p, again)
		require.LessOrEqual(t, p.volume, uint8(63))
	})
}
