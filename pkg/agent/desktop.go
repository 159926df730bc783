package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/arlab/arlab/tlib"
)

// RunDesktop is a terminal agent desktop for cfg.DN: it prints the DN's call
// events as they arrive and runs the commands read from in (see help). It
// returns nil on "quit", at the end of in, or when ctx ends; the goroutine
// reading in ends when in does.
func RunDesktop(ctx context.Context, cfg Config, in io.Reader, out io.Writer) error {
	if cfg.DN == "" {
		return ErrNoDN
	}
	cl, err := cfg.dial(ctx, "arlab-desktop-"+cfg.DN, true)
	if err != nil {
		return err
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	err = cl.Register(rctx, cfg.DN)
	cancel()
	if err != nil {
		return fmt.Errorf("agent: register %s: %w", cfg.DN, err)
	}
	d := &desktop{cl: cl, cfg: cfg, dn: cfg.DN, out: out, calls: map[string]*deskCall{}}
	server := ""
	if si := cl.ServerInfo(); si != nil {
		server = si.Server
	}
	d.printf("connected to %s (%s), DN %s registered; type help for commands", cfg.Addr, server, cfg.DN)

	evDone := make(chan struct{})
	go func() {
		defer close(evDone)
		for ev := range cl.Events() {
			d.onEvent(ev)
		}
	}()
	defer func() {
		cl.Close()
		<-evDone
	}()

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 4096), maxCommandLine+1)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
			d.printf("input: %v", err)
		}
	}()
	for {
		d.prompt()
		select {
		case <-ctx.Done():
			return nil
		case line, ok := <-lines:
			if !ok {
				return nil
			}
			if quit := d.run(ctx, line); quit {
				return nil
			}
		}
	}
}

// deskCall is what the desktop knows of one call of its DN.
type deskCall struct {
	connID string
	state  string // last event
	other  string
	ani    string
	dnis   string
	data   map[string]string
	seq    int
}

type desktop struct {
	cl  *tlib.Client
	cfg Config
	dn  string
	mu  sync.Mutex // output and calls
	out io.Writer

	calls map[string]*deskCall
	seq   int
}

func (d *desktop) printf(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, format+"\n", args...)
}

func (d *desktop) prompt() {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, "%s> ", d.dn)
}

// onEvent prints an event and keeps the call list.
func (d *desktop) onEvent(ev *tlib.Message) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, "\n%s\n", formatEvent(ev))
	if ev.ConnID == "" || ev.ThisDN != d.dn {
		return
	}
	switch ev.Name {
	case tlib.EventReleased:
		delete(d.calls, ev.ConnID)
		return
	case tlib.EventRinging, tlib.EventDialing, tlib.EventEstablished, tlib.EventHeld, tlib.EventRetrieved,
		tlib.EventAttachedDataChanged, tlib.EventRouteRequest, tlib.EventPartyChanged:
	default:
		return
	}
	c := d.calls[ev.ConnID]
	if c == nil {
		d.seq++
		c = &deskCall{connID: ev.ConnID, seq: d.seq}
		d.calls[ev.ConnID] = c
	}
	if ev.Name != tlib.EventAttachedDataChanged {
		c.state = strings.TrimPrefix(ev.Name, "Event")
	}
	c.other, c.ani, c.dnis = ev.OtherDN, ev.ANI, ev.DNIS
	c.data = maps.Clone(map[string]string(ev.UserData))
}

// formatEvent renders an event on one line.
func formatEvent(ev *tlib.Message) string {
	var b strings.Builder
	t := ev.Time
	if t.IsZero() {
		t = time.Now()
	}
	fmt.Fprintf(&b, "%s %s", t.Local().Format("15:04:05.000"), ev.Name)
	for _, kv := range [][2]string{
		{"conn", ev.ConnID}, {"this", ev.ThisDN}, {"other", ev.OtherDN}, {"ani", ev.ANI}, {"dnis", ev.DNIS},
		{"type", ev.CallType}, {"state", ev.CallState}, {"uuid", ev.CallUUID},
	} {
		if kv[1] != "" {
			fmt.Fprintf(&b, " %s=%s", kv[0], kv[1])
		}
	}
	for _, kv := range []struct {
		name string
		m    tlib.KVList
	}{{"data", ev.UserData}, {"ext", ev.Extensions}, {"reasons", ev.Reasons}} {
		if len(kv.m) > 0 {
			fmt.Fprintf(&b, " %s={%s}", kv.name, formatKV(kv.m))
		}
	}
	if ev.Name == tlib.EventError {
		fmt.Fprintf(&b, " error=%d %q", int(ev.ErrorCode), ev.ErrorMessage)
	}
	return b.String()
}

func formatKV(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

func (d *desktop) knownConn(s string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.calls[s]
	return ok
}

// current returns the most recent call of the DN.
func (d *desktop) current() (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var best *deskCall
	for _, c := range d.calls {
		if best == nil || c.seq > best.seq {
			best = c
		}
	}
	if best == nil {
		return "", false
	}
	return best.connID, true
}

// run executes one command line; it reports true for quit.
func (d *desktop) run(ctx context.Context, line string) bool {
	c, err := parseCommand(line, d.knownConn)
	if err != nil {
		d.printf("%v", err)
		return false
	}
	switch c.verb {
	case "":
		return false
	case "quit":
		return true
	case "help":
		d.printf("%s", helpText)
		return false
	case "calls":
		d.listCalls()
		return false
	}
	req := &tlib.Message{ThisDN: d.dn}
	switch c.verb {
	case "make":
		req.Name, req.OtherDN = tlib.RequestMakeCall, c.dn
	case "answer":
		req.Name = tlib.RequestAnswerCall
	case "release":
		req.Name = tlib.RequestReleaseCall
	case "attach":
		req.Name, req.UserData = tlib.RequestAttachUserData, c.kv
	case "update":
		req.Name, req.UserData = tlib.RequestUpdateUserData, c.kv
	case "delete":
		req.Name, req.UserData = tlib.RequestDeleteUserData, tlib.KVList{}
		for _, k := range c.keys {
			req.UserData[k] = ""
		}
	case "record":
		req.Name, req.PrivateMsgID, req.Extensions = tlib.RequestPrivateService, d.cfg.recordID(c.action), c.kv
	case "monitor":
		req = monitorRequest(d.dn, c.action, c.dn, c.mode, c.scope)
	}
	if req.Name != tlib.RequestMakeCall && req.Name != tlib.RequestMonitorNextCall && req.Name != tlib.RequestCancelMonitoring {
		req.ConnID = c.conn
		if req.ConnID == "" {
			cur, ok := d.current()
			if !ok {
				d.printf("no call: give a ConnID")
				return false
			}
			req.ConnID = cur
		}
	}
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	reply, err := d.cl.Request(rctx, req)
	var te *tlib.Error
	switch {
	case errors.As(err, &te):
		d.printf("error %d: %s", int(te.Code), te.Message)
	case err != nil:
		d.printf("error: %v", err)
	default:
		d.printf("ok: %s", reply.Name)
	}
	return false
}

func (d *desktop) listCalls() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.calls) == 0 {
		fmt.Fprintln(d.out, "no calls")
		return
	}
	calls := slices.SortedFunc(maps.Values(d.calls), func(a, b *deskCall) int { return a.seq - b.seq })
	for _, c := range calls {
		fmt.Fprintf(d.out, "%s %-11s other=%s ani=%s dnis=%s", c.connID, c.state, c.other, c.ani, c.dnis)
		if len(c.data) > 0 {
			fmt.Fprintf(d.out, " data={%s}", formatKV(c.data))
		}
		fmt.Fprintln(d.out)
	}
}

// Release releases one call from a script: it connects as cfg.DN, sends
// RequestReleaseCall for connID and returns the server's verdict (a
// *tlib.Error when refused).
func Release(ctx context.Context, cfg Config, connID string) error {
	if cfg.DN == "" {
		return ErrNoDN
	}
	if connID == "" {
		return errors.New("agent: no ConnID given")
	}
	cl, err := cfg.dial(ctx, "arlab-agent-release", false)
	if err != nil {
		return err
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	if err := cl.Register(rctx, cfg.DN); err != nil {
		return fmt.Errorf("agent: register %s: %w", cfg.DN, err)
	}
	if _, err := cl.Request(rctx, &tlib.Message{Name: tlib.RequestReleaseCall, ThisDN: cfg.DN, ConnID: connID}); err != nil {
		return fmt.Errorf("agent: release %s on %s: %w", connID, cfg.DN, err)
	}
	return nil
}
