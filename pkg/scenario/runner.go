package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Options configure a Runner.
type Options struct {
	// Lab, when set, points every lab-mode scenario at these addresses
	// (non-empty fields win over the scenario's own lab: block).
	Lab *Lab
	// Out receives the progress of each scenario and step; nil discards it.
	Out io.Writer
	// Logger receives the phones' and clients' logs; default slog.Default().
	Logger *slog.Logger
	// HTTPClient talks to recorder APIs; default a client with a 10 s timeout.
	HTTPClient *http.Client
	// Only, when not empty, runs just the scenarios with these names.
	Only []string
}

// Status is the outcome of one scenario.
type Status string

// Outcomes. Failed is a step that did not do or see what it should; Error is
// a scenario that could not run (a phone did not start, the lab config is
// unreadable, an invalid file).
const (
	StatusPassed  Status = "passed"
	StatusFailed  Status = "failed"
	StatusSkipped Status = "skipped"
	StatusError   Status = "error"
)

// Result is the outcome of one scenario.
type Result struct {
	Scenario   string
	File       string
	Pos        Pos
	Status     Status
	Err        error // *StepError for a failed step
	SkipReason string
	Start      time.Time
	Duration   time.Duration
	Steps      []StepResult
}

// StepResult is the outcome of one step that ran.
type StepResult struct {
	Index    int
	Name     string
	Kind     string
	Duration time.Duration
	Err      error
}

// FileResult is the outcome of one file: Err when it could not be parsed
// (nothing ran), else one Result per scenario.
type FileResult struct {
	Path     string
	Err      error
	Start    time.Time
	Duration time.Duration
	Results  []Result
}

// Report is the outcome of a run over several files.
type Report struct {
	Files []FileResult
}

// Counts sums the scenarios of the report by outcome; an invalid file counts
// as one error.
func (r *Report) Counts() (total, failed, errored, skipped int) {
	for _, f := range r.Files {
		if f.Err != nil {
			total++
			errored++
			continue
		}
		for _, res := range f.Results {
			total++
			switch res.Status {
			case StatusFailed:
				failed++
			case StatusError:
				errored++
			case StatusSkipped:
				skipped++
			}
		}
	}
	return
}

// Runner runs scenario files.
type Runner struct {
	opts Options
	log  *slog.Logger
	out  io.Writer
	// probes remembers why a lab was unreachable during this run.
	probeMu sync.Mutex
	probes  map[string]string
}

// NewRunner builds a Runner.
func NewRunner(opts Options) *Runner {
	r := &Runner{opts: opts, log: opts.Logger, out: opts.Out, probes: map[string]string{}}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.out == nil {
		r.out = io.Discard
	}
	if r.opts.HTTPClient == nil {
		r.opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	return r
}

// Run runs every file in order (each file is validated as a whole before
// any of its scenarios runs) and returns the report; the error is ErrFailed
// when any scenario failed or errored or any file was invalid.
func Run(ctx context.Context, paths []string, opts Options) (*Report, error) {
	return NewRunner(opts).Run(ctx, paths)
}

// Run runs the files; see the package-level Run.
func (r *Runner) Run(ctx context.Context, paths []string) (*Report, error) {
	rep := &Report{}
	for _, path := range paths {
		if ctx.Err() != nil {
			break
		}
		rep.Files = append(rep.Files, r.RunFile(ctx, path))
	}
	total, failed, errored, skipped := rep.Counts()
	fmt.Fprintf(r.out, "\n%d scenarios: %d passed, %d failed, %d errors, %d skipped\n",
		total, total-failed-errored-skipped, failed, errored, skipped)
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	if failed+errored > 0 {
		return rep, fmt.Errorf("%w: %d failed, %d errors", ErrFailed, failed, errored)
	}
	return rep, nil
}

// RunFile parses one file and runs its scenarios.
func (r *Runner) RunFile(ctx context.Context, path string) FileResult {
	fr := FileResult{Path: path, Start: time.Now()}
	defer func() { fr.Duration = time.Since(fr.Start) }()
	f, err := ParseFile(path)
	if err != nil {
		fr.Err = err
		fmt.Fprintf(r.out, "%s: INVALID\n%s\n", path, indent(err.Error(), "    "))
		return fr
	}
	fmt.Fprintf(r.out, "%s\n", path)
	for _, s := range f.Scenarios {
		if len(r.opts.Only) > 0 && !contains(r.opts.Only, s.Name) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		fr.Results = append(fr.Results, r.RunScenario(ctx, s))
	}
	return fr
}

// RunScenario runs one scenario: it checks requirements, starts the parties
// and T-lib clients, runs the steps in order until one fails, and always
// tears everything down.
func (r *Runner) RunScenario(ctx context.Context, s *Scenario) (res Result) {
	res = Result{Scenario: s.Name, File: s.File, Pos: s.Pos, Start: time.Now()}
	defer func() {
		res.Duration = time.Since(res.Start)
		r.printResult(&res)
	}()
	fmt.Fprintf(r.out, "  scenario %q\n", s.Name)
	lab, err := resolveLab(s, r.opts.Lab)
	if err != nil {
		res.Status, res.Err = StatusError, err
		return res
	}
	if contains(s.Requires, "lab") {
		if why := r.probe(ctx, s, lab); why != "" {
			res.Status, res.SkipReason = StatusSkipped, why
			return res
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	rn := newRun(ctx, s, lab, r)
	defer func() {
		if err := rn.close(); err != nil && res.Err == nil {
			res.Status, res.Err = StatusError, fmt.Errorf("teardown: %w", err)
		}
	}()
	if err := rn.setup(ctx); err != nil {
		res.Status, res.Err = StatusError, fmt.Errorf("setup: %w", err)
		return res
	}
	for _, st := range s.Steps {
		sr := rn.step(ctx, st)
		res.Steps = append(res.Steps, sr)
		r.printStep(st, sr)
		if sr.Err != nil {
			res.Status, res.Err = StatusFailed, sr.Err
			return res
		}
	}
	res.Status = StatusPassed
	return res
}

// probe asks whether the scenario's lab is reachable, once per run for a
// lab that is not (a reachable lab is asked again: it may go away).
func (r *Runner) probe(ctx context.Context, s *Scenario, lab *Lab) string {
	key := probeKey(s, lab)
	r.probeMu.Lock()
	why, seen := r.probes[key]
	r.probeMu.Unlock()
	if seen {
		return why
	}
	if why = probe(ctx, s, lab, r.opts.HTTPClient); why != "" {
		r.probeMu.Lock()
		r.probes[key] = why
		r.probeMu.Unlock()
	}
	return why
}

// step runs one step under its timeout and names it in any error.
func (rn *run) step(ctx context.Context, st *Step) StepResult {
	start := time.Now()
	sctx, cancel := context.WithTimeout(ctx, st.Timeout)
	defer cancel()
	err := st.action.run(sctx, rn)
	sr := StepResult{Index: st.Index, Name: st.Name, Kind: st.Kind, Duration: time.Since(start)}
	if err != nil {
		switch {
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			err = fmt.Errorf("the scenario's timeout (%s) ran out: %w", rn.s.Timeout, err)
		case errors.Is(sctx.Err(), context.DeadlineExceeded):
			err = fmt.Errorf("not done within the step's timeout (%s): %w", st.Timeout, err)
		}
		sr.Err = &StepError{File: rn.s.File, Index: st.Index, Name: st.Name, Kind: st.Kind, Pos: st.Pos, Err: err}
	}
	return sr
}

func (r *Runner) printStep(st *Step, sr StepResult) {
	mark := "ok  "
	if sr.Err != nil {
		mark = "FAIL"
	}
	fmt.Fprintf(r.out, "    %s %2d %-44s %6.2fs\n", mark, st.Index, truncate(st.Name, 44), sr.Duration.Seconds())
}

func (r *Runner) printResult(res *Result) {
	switch res.Status {
	case StatusSkipped:
		fmt.Fprintf(r.out, "  SKIP %q: %s\n", res.Scenario, res.SkipReason)
	case StatusPassed:
		fmt.Fprintf(r.out, "  PASS %q (%.2fs)\n", res.Scenario, res.Duration.Seconds())
	default:
		fmt.Fprintf(r.out, "  %s %q (%.2fs)\n%s\n", map[Status]string{StatusFailed: "FAIL", StatusError: "ERROR"}[res.Status],
			res.Scenario, res.Duration.Seconds(), indent(res.Err.Error(), "    "))
	}
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}
