package load

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/assert"
)

func TestFailureKey(t *testing.T) {
	res := func(code int) *sip.Response {
		return sip.NewResponseFromRequest(sip.NewRequest(sip.INVITE, sip.Uri{Host: "h"}), code, "x", nil)
	}
	live := context.Background()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want string
	}{
		{"final response", live, &sipgo.ErrDialogResponse{Res: res(503)}, "503"},
		{"final response by value, wrapped", live, fmt.Errorf("x: %w", sipgo.ErrDialogResponse{Res: res(486)}), "486"},
		{"response even when cancelled", cancelled, &sipgo.ErrDialogResponse{Res: res(480)}, "480"},
		{"run cancelled", cancelled, context.Canceled, "cancelled"},
		{"setup timeout", live, context.Canceled, "timeout"},
		{"timer B", live, fmt.Errorf("Timer_B timed out. %w", sip.ErrTransactionTimeout), "timeout"},
		{"deadline", live, context.DeadlineExceeded, "timeout"},
		{"connection refused", live, errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), "transport"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, failureKey(tc.ctx, tc.err))
		})
	}
}
