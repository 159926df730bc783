package scenario

import (
	"encoding/xml"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"
)

// JUnit XML as CI servers read it (Jenkins, GitLab, GitHub actions): one
// testsuite per file, one testcase per scenario. A failed step is a
// <failure> whose message names the step and its file:line; a scenario that
// could not run is an <error>; an invalid file is one testcase with an
// <error> listing every problem; a skipped scenario says why.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	File      string      `xml:"file,attr,omitempty"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string    `xml:"name,attr"`
	Classname string    `xml:"classname,attr"`
	Time      string    `xml:"time,attr"`
	File      string    `xml:"file,attr,omitempty"`
	Line      int       `xml:"line,attr,omitempty"`
	Skipped   *junitMsg `xml:"skipped"`
	Error     *junitMsg `xml:"error"`
	Failure   *junitMsg `xml:"failure"`
	SystemOut *cdata    `xml:"system-out"`
}

// cdata keeps multi-line text readable in the file.
type cdata struct {
	Text string `xml:",cdata"`
}

type junitMsg struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",cdata"`
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// WriteJUnit writes the report as JUnit XML.
func (r *Report) WriteJUnit(w io.Writer) error {
	doc := junitSuites{Name: "arlab scenarios"}
	var total time.Duration
	for _, f := range r.Files {
		s := junitSuite{Name: f.Path, File: f.Path, Time: seconds(f.Duration),
			Timestamp: f.Start.UTC().Format("2006-01-02T15:04:05")}
		class := strings.TrimSuffix(filepath.ToSlash(f.Path), filepath.Ext(f.Path))
		if f.Err != nil {
			s.Tests, s.Errors = 1, 1
			s.Cases = append(s.Cases, junitCase{Name: filepath.Base(f.Path), Classname: class, Time: seconds(f.Duration),
				File: f.Path, Error: &junitMsg{Message: firstLine(f.Err.Error()), Type: "InvalidScenario", Text: xmlSafe(f.Err.Error())}})
		}
		for _, res := range f.Results {
			c := junitCase{Name: res.Scenario, Classname: class, Time: seconds(res.Duration), File: res.File,
				Line: res.Pos.Line}
			if log := stepLog(res); log != "" {
				c.SystemOut = &cdata{Text: xmlSafe(log)}
			}
			s.Tests++
			switch res.Status {
			case StatusSkipped:
				s.Skipped++
				c.Skipped = &junitMsg{Message: res.SkipReason}
			case StatusFailed:
				s.Failures++
				c.Failure = &junitMsg{Message: firstLine(res.Err.Error()), Type: "StepFailed", Text: xmlSafe(res.Err.Error())}
			case StatusError:
				s.Errors++
				c.Error = &junitMsg{Message: firstLine(res.Err.Error()), Type: "ScenarioError", Text: xmlSafe(res.Err.Error())}
			}
			s.Cases = append(s.Cases, c)
		}
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Skipped += s.Skipped
		total += f.Duration
		doc.Suites = append(doc.Suites, s)
	}
	doc.Time = seconds(total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// stepLog lists the steps that ran, for the testcase's system-out.
func stepLog(res Result) string {
	if len(res.Steps) == 0 {
		return ""
	}
	var b strings.Builder
	for _, st := range res.Steps {
		mark := "ok  "
		if st.Err != nil {
			mark = "FAIL"
		}
		fmt.Fprintf(&b, "%s step %d %s (%s) %.3fs\n", mark, st.Index, st.Name, st.Kind, st.Duration.Seconds())
	}
	return b.String()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// xmlSafe replaces what XML 1.0 cannot carry even in CDATA (control
// characters from user input, invalid UTF-8).
func xmlSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return r
		case r < 0x20, r == 0xFFFE, r == 0xFFFF, r >= 0xD800 && r <= 0xDFFF, r == utf8.RuneError:
			return '\uFFFD'
		}
		return r
	}, s)
}
