package scenario

import (
	"context"
	"time"
)

// File is one parsed and validated scenario file.
type File struct {
	Path      string
	Scenarios []*Scenario
}

// Scenario is one test: parties, T-lib clients and steps.
type Scenario struct {
	Name        string
	Description string
	File        string
	Pos         Pos
	// Requires lists what must be reachable to run it ("lab"); when it is
	// not, the scenario is reported skipped with the reason.
	Requires []string
	// Timeout bounds the whole scenario.
	Timeout time.Duration
	Lab     LabSpec
	Parties []*Party
	Clients []*ClientSpec
	Steps   []*Step
}

// Lab modes.
const (
	// ModeDirect runs phones alone: a call goes straight to the callee
	// phone's address, no SIP Server.
	ModeDirect = "direct"
	// ModeLab runs against a lab's SIP Server, T-lib and recorders.
	ModeLab = "lab"
)

// LabSpec is the scenario's `lab:` block.
type LabSpec struct {
	Mode string
	// Config is a lab config file (relative to the scenario file) whose
	// addresses are used; empty means the embedded default lab config.
	Config        string
	Host          string
	SIP           SIPAddrs
	TLib          string
	TLibPassword  string
	Recorders     []string
	RecorderToken string
	TLSCA         string
	DataDir       string
	Pos           Pos
}

// SIPAddrs are a SIP Server's listen addresses per transport.
type SIPAddrs struct {
	UDP, TCP, TLS string
}

// Party is one phone of a scenario.
type Party struct {
	Name        string
	DN          string
	DisplayName string
	Transport   string // udp, tcp, tls
	SRTP        bool
	// Register makes the phone register its DN with the SIP Server at start.
	Register bool
	// AutoAnswer answers every incoming call after AnswerDelay; otherwise
	// incoming calls wait for an answer or reject step.
	AutoAnswer  bool
	AnswerDelay time.Duration
	ToneHz      float64 // 0: the DN's lab tone
	Username    string
	Password    string
	Pos         Pos
}

// ClientSpec is one T-lib client of a scenario.
type ClientSpec struct {
	Name       string
	AppName    string
	DNs        []string
	MonitorAll bool
	Pos        Pos
}

// Step kinds.
const (
	KindRegister = "register"
	KindCall     = "call"
	KindAnswer   = "answer"
	KindReject   = "reject"
	KindHold     = "hold"
	KindResume   = "resume"
	KindHangup   = "hangup"
	KindDTMF     = "dtmf"
	KindWait     = "wait"
	KindTLib     = "tlib"
	KindExpect   = "expect"
)

var stepKinds = []string{KindRegister, KindCall, KindAnswer, KindReject, KindHold, KindResume, KindHangup,
	KindDTMF, KindWait, KindTLib, KindExpect}

// Step is one step of a scenario.
type Step struct {
	Index   int // 1-based
	Name    string
	Kind    string
	Pos     Pos
	Timeout time.Duration
	action  action
}

// action is what a step does.
type action interface {
	run(ctx context.Context, r *run) error
	// defaultName names a step the user did not name.
	defaultName() string
	// defaultTimeout bounds the step when the user set no timeout.
	defaultTimeout() time.Duration
}
