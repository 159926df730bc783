package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// The recorder HTTP API as documented in docs/recorder-api.md; only the
// fields scenarios check are decoded.
const recorderAPI = "/api/v1"

// Response size limits: a page of recordings, and one recording's audio.
const (
	maxJSONBody  = 8 << 20
	maxAudioBody = 256 << 20
)

type apiRecording struct {
	ID          string `json:"id"`
	State       string `json:"state"`
	Prerecord   bool   `json:"prerecord"`
	Kept        bool   `json:"kept"`
	CallUUID    string `json:"call_uuid"`
	ConnID      string `json:"conn_id"`
	RecordDN    string `json:"record_dn"`
	DurationMs  int64  `json:"duration_ms"`
	Dir         string `json:"dir"`
	SRCRecordID string `json:"src_recording_id"`
	Channels    []struct {
		Index int    `json:"index"`
		Label string `json:"label"`
	} `json:"channels"`
	Participants []struct {
		ID   string `json:"id"`
		AOR  string `json:"aor"`
		Name string `json:"name"`
	} `json:"participants"`
	Pauses []struct {
		StartMs int64 `json:"start_ms"`
		EndMs   int64 `json:"end_ms"`
	} `json:"pauses"`
}

type apiPage struct {
	Total      int             `json:"total"`
	Recordings []*apiRecording `json:"recordings"`
}

var errNotFound = errors.New("not found")

func (rn *run) apiGet(ctx context.Context, u string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if rn.lab.RecorderToken != "" {
		req.Header.Set("Authorization", "Bearer "+rn.lab.RecorderToken)
	}
	res, err := rn.httpc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("GET %s: answer larger than %d bytes", u, limit)
	}
	switch {
	case res.StatusCode == http.StatusNotFound:
		return nil, errNotFound
	case res.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("GET %s: %s: %s", u, res.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// findRecordings asks one recorder for the recordings the keys select.
func (rn *run) findRecordings(ctx context.Context, base string, keys map[string]string, id string) ([]*apiRecording, error) {
	if id != "" {
		body, err := rn.apiGet(ctx, base+recorderAPI+"/recordings/"+url.PathEscape(id), maxJSONBody)
		if errors.Is(err, errNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		var rec apiRecording
		if err := json.Unmarshal(body, &rec); err != nil {
			return nil, fmt.Errorf("recorder %s: recording %s: %w", base, id, err)
		}
		return []*apiRecording{&rec}, nil
	}
	q := url.Values{}
	for k, v := range keys {
		if v != "" {
			q.Set(k, v)
		}
	}
	q.Set("limit", "100")
	body, err := rn.apiGet(ctx, base+recorderAPI+"/recordings?"+q.Encode(), maxJSONBody)
	if err != nil {
		return nil, err
	}
	var page apiPage
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, fmt.Errorf("recorder %s: search: %w", base, err)
	}
	return page.Recordings, nil
}
