// Package scenario owns arlab's YAML scenario engine: the format users write to
// test recording flows in their own CI, its parser (every error names
// file:line:column, the whole file is validated before anything runs), the
// runner that drives phones, T-lib clients and the recorder API step by step,
// and the JUnit XML report.
//
// A file holds one or more scenarios (YAML documents separated by ---). Each
// scenario names its parties (phones), optional T-lib clients, and an ordered
// list of steps: register, call, answer, reject, hold, resume, hangup, dtmf,
// wait, tlib requests, and expect blocks (T-lib events, SIP responses, audio a
// party heard, recordings found through the recorder API, WAV files).
// Values can use variables captured by earlier steps (${call1.ConnID}).
//
// A scenario runs either against phones alone (lab mode "direct": the callee
// phone's address replaces a SIP Server) or against a running lab whose
// addresses come from a lab config, the scenario file or the caller.
// Scenarios marked `requires: lab` are reported skipped, with the reason,
// when no lab answers; they never pass without running.
//
// The format is specified in docs/scenarios.md.
package scenario
