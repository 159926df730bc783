package agent

import (
	"context"
	"errors"
	"maps"
	"sync"
	"time"

	"github.com/arlab/arlab/tlib"
)

// requestTimeout bounds one request of the router or the desktop.
const requestTimeout = 5 * time.Second

// Decision is what a rule decided for a call.
type Decision struct {
	Rule       string
	Target     string
	Attach     map[string]string
	Extensions map[string]string
}

// Router applies Rules to route requests. It keeps the per-rule counters
// that "every" needs, so one Router serves one strategy; it is safe for
// concurrent use.
type Router struct {
	rules *Rules
	mu    sync.Mutex
	seen  []uint64 // matching calls per rule
}

// NewRouter returns a Router for rules.
func NewRouter(rules *Rules) *Router {
	return &Router{rules: rules, seen: make([]uint64, len(rules.Rules))}
}

// Decide picks the route for a call with ani and dnis: the first rule whose
// patterns match and, for an "every N" rule, whose turn it is.
func (r *Router) Decide(ani, dnis string) (Decision, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, rule := range r.rules.Rules {
		if !rule.Match.ani(ani) || !rule.Match.dnis(dnis) {
			continue
		}
		r.seen[i]++
		if r.seen[i]%uint64(rule.Every) != 0 {
			continue
		}
		return Decision{
			Rule: rule.Name, Target: rule.Target,
			Attach: maps.Clone(rule.Attach), Extensions: maps.Clone(rule.Extensions),
		}, true
	}
	return Decision{}, false
}

// RunRouter registers on the routing points of rules and routes each
// EventRouteRequest: attach the rule's user data, then RequestRouteCall to
// its target with its extensions. A call no rule takes is left alone, so
// the SIP Server's default route applies. It reconnects on connection loss
// and returns when ctx ends.
func RunRouter(ctx context.Context, cfg Config, rules *Rules) error {
	log := cfg.logger().With("component", "router")
	cl, err := cfg.dial(ctx, "arlab-router", true)
	if err != nil {
		return err
	}
	defer cl.Close()
	for _, rp := range rules.RoutingPoints {
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		err := cl.Register(rctx, rp)
		cancel()
		if err != nil {
			return errors.Join(errors.New("agent: register routing point "+rp), err)
		}
	}
	log.Info("router ready", "routing_points", rules.RoutingPoints, "rules", len(rules.Rules))
	router := NewRouter(rules)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-cl.Events():
			if !ok {
				return nil
			}
			if ev.Name != tlib.EventRouteRequest {
				continue
			}
			d, ok := router.Decide(ev.ANI, ev.DNIS)
			if !ok {
				log.Info("no rule takes the call; the default route applies", "conn_id", ev.ConnID, "ani", ev.ANI, "dnis", ev.DNIS)
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := route(ctx, cl, ev, d); err != nil {
					log.Warn("routing failed", "conn_id", ev.ConnID, "rule", d.Rule, "target", d.Target, "error", err)
					return
				}
				log.Info("routed", "conn_id", ev.ConnID, "ani", ev.ANI, "dnis", ev.DNIS, "rule", d.Rule, "target", d.Target)
			}()
		}
	}
}

// route performs one decision on the call of a route request.
func route(ctx context.Context, cl *tlib.Client, ev *tlib.Message, d Decision) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	if len(d.Attach) > 0 {
		_, err := cl.Request(ctx, &tlib.Message{Name: tlib.RequestAttachUserData, ThisDN: ev.ThisDN, ConnID: ev.ConnID,
			UserData: tlib.KVList(maps.Clone(d.Attach))})
		if err != nil {
			return err
		}
	}
	_, err := cl.Request(ctx, &tlib.Message{Name: tlib.RequestRouteCall, ThisDN: ev.ThisDN, ConnID: ev.ConnID,
		OtherDN: d.Target, Extensions: tlib.KVList(maps.Clone(d.Extensions))})
	return err
}
