package mediaserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"regexp"
	"strconv"
	"sync"

	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/msml"
)

// party is one recorded party: the DN whose sent audio becomes a stream.
type party struct {
	dn    string
	label string // SDP a=label and metadata <label>
	left  bool   // a supervisor that unjoined: its m-line is disabled
}

// recording is one record request: a set of destinations receiving the same
// parties' audio. Each destination works on its own (a failure of one leaves
// the others alone).
type recording struct {
	conf   *conference
	srv    *Server
	id     string
	ctrlDN string // DN of the leg the request came on: events go there
	params msml.Record
	// sipSessionID is the Session-ID (RFC 7989) the metadata names for the
	// communication session.
	sipSessionID string
	log          *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	parties []*party
	paused  bool
	stopped bool
	dests   []*destination
	wg      sync.WaitGroup
}

// destination is one <dest>: a recorder (one or one-per-party recording
// sessions) or a local file.
type destination struct {
	uri     string
	mode    msml.Mode
	direct  bool
	sipURI  sip.Uri
	fileDir string // set for a file: destination

	file     *localFile
	sessions []*recSession
}

func (d *destination) isFile() bool { return d.fileDir != "" }

var labelPattern = regexp.MustCompile(`^[A-Za-z0-9+._-]{1,32}$`)

func newRecording(c *conference, id, ctrlDN string, p msml.Record, dns []string, dests []*destination) (*recording, error) {
	r := &recording{
		conf:   c,
		srv:    c.srv,
		id:     id,
		ctrlDN: ctrlDN,
		params: p,
		dests:  dests,
		log:    c.log.With("recording", id),
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	r.sipSessionID = hex.EncodeToString(b[:])
	for _, dn := range dns {
		r.parties = append(r.parties, r.newParty(dn))
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	for _, d := range dests {
		if d.isFile() {
			f, err := newLocalFile(r, d.fileDir, dns)
			if err != nil {
				r.cancel()
				for _, o := range dests {
					if o.file != nil {
						o.file.abort()
					}
				}
				return nil, msml.Errorf(msml.CodeInternal, "local recording: %v", err)
			}
			d.file = f
			continue
		}
		if p.Sessions == msml.SessionsPerParty {
			for _, pt := range r.parties {
				d.sessions = append(d.sessions, newRecSession(r, d, []*party{pt}))
			}
		} else {
			d.sessions = append(d.sessions, newRecSession(r, d, r.parties))
		}
	}
	return r, nil
}

// newParty labels a party by its DN when that is a valid label token.
func (r *recording) newParty(dn string) *party {
	label := dn
	if !labelPattern.MatchString(label) {
		label = "party" + strconv.Itoa(len(r.parties)+1)
	}
	for _, p := range r.parties {
		if p.label == label {
			label += "-" + strconv.Itoa(len(r.parties)+1)
		}
	}
	return &party{dn: dn, label: label}
}

// start launches every destination. Called with the conference locked: it
// must not take the conference lock.
func (r *recording) start() {
	for _, d := range r.dests {
		if d.file != nil {
			uri := d.uri
			d.file.failed = func(reason string) {
				r.srv.sendEvent(r, msml.EventRecordFailed, msml.Param{Name: msml.ParamDest, Value: uri},
					msml.Param{Name: msml.ParamReason, Value: reason}, msml.Param{Name: msml.ParamRecovering, Value: "false"})
			}
			d.file.start(r.ctx, &r.wg)
			r.srv.sendEvent(r, msml.EventRecordStarted, msml.Param{Name: msml.ParamDest, Value: d.uri},
				msml.Param{Name: msml.ParamActive, Value: strconv.Itoa(r.activeDests())})
		}
		for _, rs := range d.sessions {
			rs.start(&r.wg)
		}
	}
}

// appendSinks adds the recording's sinks for dn's audio.
func (r *recording) appendSinks(dn string, s []sink) []sink {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return s
	}
	for _, d := range r.dests {
		if d.file != nil {
			if t := d.file.channel(dn); t != nil {
				s = append(s, t)
			}
		}
		for _, rs := range d.sessions {
			if o := rs.sinkFor(dn); o != nil {
				s = append(s, o)
			}
		}
	}
	return s
}

// pause stops the recording's audio: copying stops at once (before any
// signalling), then each session signals it as the pause mode says.
func (r *recording) pause() {
	r.mu.Lock()
	if r.paused || r.stopped {
		r.mu.Unlock()
		return
	}
	r.paused = true
	dests := r.dests
	r.mu.Unlock()
	for _, d := range dests {
		if d.file != nil {
			d.file.setOpen(false)
		}
		for _, rs := range d.sessions {
			rs.setPaused(true)
		}
	}
	r.log.Info("recording paused", "mode", r.srv.cfg.PauseMode)
}

// resume restores the audio: signalled first where the pause was signalled.
func (r *recording) resume() {
	r.mu.Lock()
	if !r.paused || r.stopped {
		r.mu.Unlock()
		return
	}
	r.paused = false
	dests := r.dests
	r.mu.Unlock()
	for _, d := range dests {
		if d.file != nil {
			d.file.setOpen(true)
		}
		for _, rs := range d.sessions {
			rs.setPaused(false)
		}
	}
	r.log.Info("recording resumed")
}

func (r *recording) isPaused() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.paused
}

// stop ends every destination (BYE, file closed) and waits for them.
func (r *recording) stop() {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		r.wg.Wait()
		return
	}
	r.stopped = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
	r.log.Info("recording stopped")
}

// addParty adds a supervisor's stream to the recording: a new m-line and
// partial metadata (single layout) or a new session (per-party layout).
// Local files keep the channels they were created with.
func (r *recording) addParty(dn string) {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	for _, p := range r.parties {
		if p.dn == dn && !p.left {
			r.mu.Unlock()
			return
		}
	}
	defer r.mu.Unlock()
	p := r.newParty(dn)
	r.parties = append(r.parties, p)
	for _, d := range r.dests {
		if d.isFile() {
			continue
		}
		if r.params.Sessions == msml.SessionsPerParty {
			// Started under r.mu, so it cannot race with stop's Wait.
			rs := newRecSession(r, d, []*party{p})
			d.sessions = append(d.sessions, rs)
			rs.start(&r.wg)
			continue
		}
		for _, rs := range d.sessions {
			rs.addParty(p)
		}
	}
}

// removeParty marks a supervisor as gone: its m-line is disabled and the
// metadata records its departure.
func (r *recording) removeParty(dn string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.parties {
		if p.dn == dn && !p.left {
			p.left = true
		}
	}
	for _, d := range r.dests {
		for _, rs := range d.sessions {
			rs.removeParty(dn)
		}
	}
}
