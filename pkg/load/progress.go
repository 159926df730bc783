package load

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// sampleEvery is how often process RSS is sampled (and the fastest progress line).
const sampleEvery = time.Second

// recorderLossMetrics are the recorder counters the progress line sums as loss.
var recorderLossMetrics = []string{"arlab_recorder_rtp_lost_total", "arlab_recorder_rtp_late_total"}

// progress samples the processes every second and prints the live line every
// Progress until stop is closed. The recorders' loss counters are polled by
// their own goroutine, so a slow metrics endpoint never delays the line.
func (r *runner) progress(ctx context.Context, started time.Time, lossBase int64, stop <-chan struct{}) {
	var loss atomic.Int64
	loss.Store(-1)
	pctx, cancel := context.WithCancel(ctx)
	polled := make(chan struct{})
	if len(r.clients) > 0 && r.cfg.Progress > 0 {
		go func() {
			defer close(polled)
			r.pollLoss(pctx, &loss, stop)
		}()
	} else {
		close(polled)
	}
	defer func() {
		cancel() // ends a scrape in flight
		<-polled
	}()
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	lastPrint, lastEst := started, int64(0)
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			r.procs.sample()
			if r.cfg.Progress < 0 || now.Sub(lastPrint) < r.cfg.Progress-sampleEvery/10 {
				continue
			}
			est := r.established.Load()
			rate := float64(est-lastEst) / now.Sub(lastPrint).Seconds()
			lastPrint, lastEst = now, est
			gs := r.gen.Stats()
			line := fmt.Sprintf("%6.1fs  active %d  setups %.1f/s  established %d  failed %d  rtp sent %d  send errors %d",
				now.Sub(started).Seconds(), r.active.Load(), rate, est, r.failed.Load(), gs.Sent, gs.SendErrors)
			if l := loss.Load(); l >= 0 && lossBase >= 0 {
				line += fmt.Sprintf("  recorder loss %d", l-lossBase)
			}
			fmt.Fprintln(r.out, line)
		}
	}
}

// pollLoss keeps loss up to date (-1 while a recorder does not answer).
func (r *runner) pollLoss(ctx context.Context, loss *atomic.Int64, stop <-chan struct{}) {
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	for {
		loss.Store(r.recorderLoss(ctx))
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// recorderLoss sums the recorders' lost and late packet counters (totals
// since each recorder started); -1 when a recorder does not answer.
func (r *runner) recorderLoss(ctx context.Context) int64 {
	var total int64
	for _, c := range r.clients {
		v, err := scrapeSum(ctx, c.HTTP, c.Base+"/metrics", c.Token, recorderLossMetrics)
		if err != nil {
			r.log.Debug("recorder metrics unavailable", "recorder", c.Base, "err", err)
			return -1
		}
		total += v
	}
	return total
}

// scrapeSum reads a Prometheus text exposition and sums the named metrics.
func scrapeSum(ctx context.Context, hc *http.Client, url, token string, names []string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", url, res.Status)
	}
	return sumMetrics(io.LimitReader(res.Body, 1<<20), names)
}

// sumMetrics sums the values of unlabelled samples of the named metrics.
func sumMetrics(r io.Reader, names []string) (int64, error) {
	var total int64
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		for _, n := range names {
			if name == n {
				v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
				if err != nil {
					return 0, fmt.Errorf("metric %s: %w", n, err)
				}
				total += int64(v)
			}
		}
	}
	return total, sc.Err()
}
