package sipserver

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"time"
)

// DNType is the kind of a directory number.
type DNType string

// DN types as the SIP Server configures them.
const (
	Extension    DNType = "extension"
	ACDPosition  DNType = "acd-position"
	RoutingPoint DNType = "routing-point"
	Supervisor   DNType = "supervisor"
)

// RecordSide says which parties' audio a DN-triggered recording captures.
type RecordSide string

// Record sides: both parties (dual channel, the default), only the DN's own
// party, or only the far party.
const (
	SideBoth  RecordSide = "both"
	SideThis  RecordSide = "this"
	SideOther RecordSide = "other"
)

// DN is one directory number and its options.
type DN struct {
	Number string `yaml:"dn"`
	Type   DNType `yaml:"type"`
	// Name and AgentID describe who sits at an extension (recording metadata).
	Name    string `yaml:"name,omitempty"`
	AgentID string `yaml:"agent-id,omitempty"`
	// Record turns on full-time recording of every call on this DN.
	Record bool `yaml:"record,omitempty"`
	// Prerecord records every call from setup as tentative (kept only if asked).
	Prerecord  bool       `yaml:"prerecord,omitempty"`
	RecordSide RecordSide `yaml:"record-side,omitempty"`
	// AutoAnswer lets RequestAnswerCall / RequestMakeCall drive this DN's phone.
	AutoAnswer bool `yaml:"auto-answer,omitempty"`
	// DefaultRoute is where a routing point sends a call when no router answers.
	DefaultRoute string `yaml:"default-route,omitempty"`
}

// Listen holds the SIP listen addresses of a service ("" = transport off).
type Listen struct {
	UDP string `yaml:"udp"`
	TCP string `yaml:"tcp"`
	TLS string `yaml:"tls"`
}

// PrivateMsgIDs are the RequestPrivateService ids of the recording requests.
type PrivateMsgIDs struct {
	RecordStart  int `yaml:"record-start"`
	RecordStop   int `yaml:"record-stop"`
	RecordPause  int `yaml:"record-pause"`
	RecordResume int `yaml:"record-resume"`
}

// Config is the `sipserver:` section of the lab config.
type Config struct {
	SIP  Listen `yaml:"sip"`
	TLib string `yaml:"tlib"`
	HTTP string `yaml:"http"`
	// TLibPassword, when set, is required by RequestOpen.
	TLibPassword string `yaml:"tlib-password,omitempty"`
	// TLibTLS makes T-lib clients connect with TLS, using the SIP Server's
	// certificate (the one of the SIP TLS listener).
	TLibTLS bool `yaml:"tlib-tls,omitempty"`
	DNs     []DN `yaml:"dns"`
	// RouteTimeout is how long a routing point waits for RequestRouteCall
	// before it uses the DN's default route.
	RouteTimeout  time.Duration `yaml:"route-timeout"`
	PrivateMsgIDs PrivateMsgIDs `yaml:"private-msg-ids"`
	// Host is the address advertised in Contact and Via headers; default the
	// IP of the first SIP listen address (127.0.0.1 when that is unspecified).
	Host string `yaml:"host,omitempty"`
	// MaxCalls bounds the live calls; a new INVITE beyond it gets 503.
	MaxCalls int `yaml:"max-calls,omitempty"`
	// NoAnswerTimeout ends a call that rings this long unanswered (480 to the
	// caller, CallState NoAnswer); 0 lets it ring until someone hangs up.
	NoAnswerTimeout time.Duration `yaml:"no-answer-timeout,omitempty"`
	// RegisterMaxExpires caps the lifetime a phone may ask for in REGISTER.
	RegisterMaxExpires time.Duration `yaml:"register-max-expires,omitempty"`
	// MediaControl is how calls are anchored on media servers (through the
	// Resource Manager) for recording and monitoring.
	MediaControl MediaControl `yaml:"media-control,omitempty"`
	// Recording holds the recording defaults.
	Recording RecordingConfig `yaml:"recording,omitempty"`
}

// MediaControl configures the SIP Server's side of media control: where the
// media-control legs (INVITE sip:msml=<conf-id>@rm;dn=<DN>) go and how a
// media server that died under a call is noticed.
type MediaControl struct {
	// ResourceManager is the ip:port of the Resource Manager; "" turns media
	// anchoring off (recording and monitoring requests are then refused).
	ResourceManager string `yaml:"resource-manager"`
	// Transport towards the Resource Manager: udp, tcp (default) or tls. The
	// matching sip listener must be set: events come back on it.
	Transport string `yaml:"transport,omitempty"`
	// Keepalive is the interval of the in-dialog OPTIONS probing the media
	// server of anchored calls; a probe that fails re-anchors the calls on
	// another media server. Default 2s; negative turns probing off.
	Keepalive time.Duration `yaml:"keepalive,omitempty"`
	// Timeout bounds one media-control transaction (INVITE, INFO, OPTIONS).
	// Default 5s.
	Timeout time.Duration `yaml:"timeout,omitempty"`
}

// RecordingConfig holds the recording defaults. Empty values leave the
// choice to the media server's own configuration.
type RecordingConfig struct {
	// Mode is the recording protocol: siprec or genesys ("" = media server default).
	Mode string `yaml:"mode,omitempty"`
	// Destination is the recorder URI used when a request names no dest
	// ("" = the media server's default-destination).
	Destination string `yaml:"destination,omitempty"`
	// Sessions is the session layout: single or per-party ("" = media server default).
	Sessions string `yaml:"sessions,omitempty"`
	// PrerecordGrace is how long after a pre-recorded call ended a
	// GSIP_RECORD_START still keeps its recording. Default 60s, the
	// recorder's own grace; keep it no longer than the recorders'.
	PrerecordGrace time.Duration `yaml:"prerecord-grace,omitempty"`
	// FileName is the template of GSIP_REC_FN; placeholders {calluuid},
	// {connid}, {dn} (recorded DN), {other}, {ani}, {dnis}, {date}
	// (YYYY-MM-DD), {time} (HH-MM-SS), {host} ("." written "-dot-") and {id}
	// (recording id).
	FileName string `yaml:"file-name,omitempty"`
}

// DefaultFileName is the GSIP_REC_FN template of published Genesys samples.
const DefaultFileName = "{calluuid}_{dn}_{ani}_{dnis}_{date}_{time}_{host}__{id}"

// Defaults fills zero values with the lab's defaults.
func (c *Config) Defaults() {
	if c.RouteTimeout == 0 {
		c.RouteTimeout = 5 * time.Second
	}
	if c.MaxCalls == 0 {
		c.MaxCalls = 10000
	}
	if c.RegisterMaxExpires == 0 {
		c.RegisterMaxExpires = time.Hour
	}
	if c.MediaControl.Transport == "" {
		c.MediaControl.Transport = "tcp"
	}
	if c.MediaControl.Keepalive == 0 {
		c.MediaControl.Keepalive = 2 * time.Second
	}
	if c.MediaControl.Timeout == 0 {
		c.MediaControl.Timeout = 5 * time.Second
	}
	if c.Recording.PrerecordGrace == 0 {
		c.Recording.PrerecordGrace = 60 * time.Second
	}
	if c.Recording.FileName == "" {
		c.Recording.FileName = DefaultFileName
	}
	p := &c.PrivateMsgIDs
	if p.RecordStart == 0 {
		p.RecordStart = 3013
	}
	if p.RecordStop == 0 {
		p.RecordStop = 3014
	}
	if p.RecordPause == 0 {
		p.RecordPause = 3015
	}
	if p.RecordResume == 0 {
		p.RecordResume = 3016
	}
	for i := range c.DNs {
		if c.DNs[i].Type == "" {
			c.DNs[i].Type = Extension
		}
		if c.DNs[i].RecordSide == "" {
			c.DNs[i].RecordSide = SideBoth
		}
	}
}

var dnPattern = regexp.MustCompile(`^\+?[0-9A-Za-z_.-]{1,32}$`)

// Validate reports every invalid value, each naming its key in the lab config.
func (c Config) Validate() error {
	const prefix = "sipserver"
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, key, fmt.Sprintf(format, args...)))
	}
	if c.RouteTimeout < 0 {
		bad("route-timeout", "must not be negative")
	}
	if c.MaxCalls < 0 {
		bad("max-calls", "must not be negative")
	}
	if c.NoAnswerTimeout < 0 {
		bad("no-answer-timeout", "must not be negative")
	}
	if c.RegisterMaxExpires < time.Second {
		bad("register-max-expires", "must be at least 1s, got %s", c.RegisterMaxExpires)
	}
	if c.Host != "" {
		if _, err := netip.ParseAddr(c.Host); err != nil {
			bad("host", "%q is not an IP address", c.Host)
		}
	}
	if c.SIP.UDP == "" && c.SIP.TCP == "" && c.SIP.TLS == "" {
		bad("sip", "at least one of udp, tcp, tls must be set")
	}
	errs = append(errs, c.validateMedia()...)
	ids := map[int]string{}
	for key, v := range map[string]int{
		"record-start": c.PrivateMsgIDs.RecordStart, "record-stop": c.PrivateMsgIDs.RecordStop,
		"record-pause": c.PrivateMsgIDs.RecordPause, "record-resume": c.PrivateMsgIDs.RecordResume,
	} {
		if v <= 0 {
			bad("private-msg-ids."+key, "must be a positive number, got %d", v)
		} else if other, dup := ids[v]; dup {
			bad("private-msg-ids."+key, "id %d is also used by %s", v, other)
		}
		ids[v] = key
	}
	seen := map[string]int{}
	for i, d := range c.DNs {
		key := fmt.Sprintf("dns[%d]", i)
		if !dnPattern.MatchString(d.Number) {
			bad(key+".dn", "%q is not a DN (digits, letters, +, _, ., - up to 32)", d.Number)
		}
		if j, dup := seen[d.Number]; dup {
			bad(key+".dn", "%q is already defined at dns[%d]", d.Number, j)
		}
		seen[d.Number] = i
		switch d.Type {
		case Extension, ACDPosition, RoutingPoint, Supervisor:
		default:
			bad(key+".type", "unknown type %q (want extension|acd-position|routing-point|supervisor)", d.Type)
		}
		switch d.RecordSide {
		case SideBoth, SideThis, SideOther:
		default:
			bad(key+".record-side", "unknown side %q (want both|this|other)", d.RecordSide)
		}
		if d.DefaultRoute != "" && d.Type != RoutingPoint {
			bad(key+".default-route", "only a routing-point has a default route")
		}
	}
	for i, d := range c.DNs {
		if d.DefaultRoute == "" {
			continue
		}
		if _, ok := seen[d.DefaultRoute]; !ok {
			bad(fmt.Sprintf("dns[%d].default-route", i), "%q is not a configured DN", d.DefaultRoute)
		}
	}
	return errors.Join(errs...)
}

// DN returns the configured DN, if any.
func (c Config) DN(number string) (DN, bool) {
	for _, d := range c.DNs {
		if d.Number == number {
			return d, true
		}
	}
	return DN{}, false
}
