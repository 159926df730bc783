// Package recclient is the client of the recorder's HTTP API
// (docs/recorder-api.md): search, get, download, keep and delete on one
// recorder, and merged searches over a whole recorder cluster, so a user or
// a tool looks in one place.
package recclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/arlab/arlab/recorder"
)

// MaxJSON bounds an API answer read into memory.
const MaxJSON = 16 << 20

// ErrNotFound is a recording no recorder knows.
var ErrNotFound = errors.New("recording not found")

// APIError is a non-2xx answer of the API.
type APIError struct {
	Status  int
	Message string
	URL     string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("recorder API %s: %d %s", e.URL, e.Status, e.Message)
}

// Client talks to one recorder.
type Client struct {
	Base  string // http://host:port
	Token string
	HTTP  *http.Client
}

// New returns a client for base (a URL or host:port) with a 10 s timeout.
func New(base, token string) *Client {
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return &Client{Base: strings.TrimRight(base, "/"), Token: token, HTTP: &http.Client{Timeout: 10 * time.Second}}
}

// Query selects recordings; empty fields match everything.
type Query struct {
	CallUUID, ConnID, DN, Agent, ANI, DNIS string
	States                                 []string
	From, To                               time.Time
	Limit, Offset                          int
}

func (q Query) values() url.Values {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("call_uuid", q.CallUUID)
	set("conn_id", q.ConnID)
	set("dn", q.DN)
	set("agent", q.Agent)
	set("ani", q.ANI)
	set("dnis", q.DNIS)
	if len(q.States) > 0 {
		v.Set("state", strings.Join(q.States, ","))
	}
	if !q.From.IsZero() {
		v.Set("from", q.From.UTC().Format(time.RFC3339))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.UTC().Format(time.RFC3339))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Offset > 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	return v
}

// Page is one page of a search.
type Page struct {
	Total      int                  `json:"total"`
	Offset     int                  `json:"offset"`
	Limit      int                  `json:"limit"`
	Recordings []recorder.Recording `json:"recordings"`
}

// Search runs a query on this recorder.
func (c *Client) Search(ctx context.Context, q Query) (*Page, error) {
	var p Page
	if err := c.getJSON(ctx, "/api/v1/recordings?"+q.values().Encode(), &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Get returns one recording (a live snapshot while it records).
func (c *Client) Get(ctx context.Context, id string) (*recorder.Recording, error) {
	var r recorder.Recording
	if err := c.getJSON(ctx, "/api/v1/recordings/"+url.PathEscape(id), &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Audio opens the recording's WAV (channel < 0) or one per-party file.
func (c *Client) Audio(ctx context.Context, id string, channel int) (io.ReadCloser, error) {
	p := "/api/v1/recordings/" + url.PathEscape(id) + "/audio"
	if channel >= 0 {
		p += "?channel=" + strconv.Itoa(channel)
	}
	res, err := c.do(ctx, http.MethodGet, p)
	if err != nil {
		return nil, err
	}
	return res.Body, nil
}

// Metadata returns the RFC 7865 metadata as received (merged after updates).
func (c *Client) Metadata(ctx context.Context, id string) ([]byte, error) {
	res, err := c.do(ctx, http.MethodGet, "/api/v1/recordings/"+url.PathEscape(id)+"/metadata")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	return io.ReadAll(io.LimitReader(res.Body, MaxJSON))
}

// Keep commits the tentative pre-recordings of a call; it returns their ids
// (empty when none exists yet: the recorder then keeps it when it arrives).
func (c *Client) Keep(ctx context.Context, callUUID string) ([]string, error) {
	res, err := c.do(ctx, http.MethodPost, "/api/v1/calls/"+url.PathEscape(callUUID)+"/keep")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var out struct {
		Kept []string `json:"kept"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, MaxJSON)).Decode(&out); err != nil {
		return nil, fmt.Errorf("recorder API keep: %w", err)
	}
	return out.Kept, nil
}

// Delete removes a finished recording.
func (c *Client) Delete(ctx context.Context, id string) error {
	res, err := c.do(ctx, http.MethodDelete, "/api/v1/recordings/"+url.PathEscape(id))
	if err != nil {
		return err
	}
	res.Body.Close()
	return nil
}

func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	res, err := c.do(ctx, http.MethodGet, path)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if err := json.NewDecoder(io.LimitReader(res.Body, MaxJSON)).Decode(v); err != nil {
		return fmt.Errorf("recorder API %s%s: %w", c.Base, path, err)
	}
	return nil
}

func (c *Client) do(ctx context.Context, method, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, nil)
	if err != nil {
		return nil, err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode/100 != 2 {
		defer res.Body.Close()
		var e struct {
			Error string `json:"error"`
		}
		b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		apiErr := &APIError{Status: res.StatusCode, Message: e.Error, URL: c.Base + path}
		if res.StatusCode == http.StatusNotFound {
			return nil, fmt.Errorf("%w: %w", ErrNotFound, apiErr)
		}
		return nil, apiErr
	}
	return res, nil
}

// Found is a recording and the recorder that holds it.
type Found struct {
	Recorder string // the recorder's base URL
	recorder.Recording
}

// Cluster is every recorder of a lab.
type Cluster []*Client

// Search asks every recorder and merges the answers, newest first. A
// recorder that does not answer is reported in the joined error while the
// others' results are still returned.
func (cl Cluster) Search(ctx context.Context, q Query) ([]Found, error) {
	var out []Found
	var errs []error
	for _, c := range cl {
		p, err := c.Search(ctx, q)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, r := range p.Recordings {
			out = append(out, Found{Recorder: c.Base, Recording: r})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].StartTime.After(out[j].StartTime) })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, errors.Join(errs...)
}

// Find locates a recording by id on whichever recorder has it.
func (cl Cluster) Find(ctx context.Context, id string) (*Client, *recorder.Recording, error) {
	var errs []error
	for _, c := range cl {
		r, err := c.Get(ctx, id)
		if err == nil {
			return c, r, nil
		}
		if !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, nil, fmt.Errorf("%w: %s (and %w)", ErrNotFound, id, errors.Join(errs...))
	}
	return nil, nil, fmt.Errorf("%w: %s", ErrNotFound, id)
}
