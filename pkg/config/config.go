package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/arlab/arlab/mediaserver"
	"github.com/arlab/arlab/recorder"
	"github.com/arlab/arlab/resourcemanager"
	"github.com/arlab/arlab/sipserver"
)

//go:embed default.yaml
var defaultYAML []byte

// MaxFileSize bounds a config file; a lab config is a few kilobytes.
const MaxFileSize = 1 << 20

// ErrInvalid wraps every problem found in a config.
var ErrInvalid = errors.New("invalid lab config")

// Config is the whole lab configuration.
type Config struct {
	Lab             Lab                    `yaml:"lab"`
	SIPServer       sipserver.Config       `yaml:"sipserver"`
	ResourceManager resourcemanager.Config `yaml:"resourcemanager"`
	MediaServers    []mediaserver.Config   `yaml:"mediaservers"`
	Recorders       []recorder.Config      `yaml:"recorders"`
}

// Lab holds the settings every service shares.
type Lab struct {
	Host    string   `yaml:"host"`
	DataDir string   `yaml:"data-dir"`
	TLS     TLSFiles `yaml:"tls"`
	// ExternalRecorder, when set (a SIP URI such as
	// "sip:10.1.2.3:5060;transport=tcp"), replaces the lab's recorders: the
	// Resource Manager's recorder groups send every recording session there,
	// and `lab up` starts no recorder of its own.
	ExternalRecorder string `yaml:"external-recorder,omitempty"`
}

// TLSFiles names PEM files; all empty means a self-signed lab CA.
type TLSFiles struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	CA   string `yaml:"ca"`
}

// DefaultYAML returns the embedded default config text.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// Default returns the embedded default config, with defaults applied.
func Default() *Config {
	c, err := Parse(nil, "")
	if err != nil {
		panic("embedded default config is invalid: " + err.Error())
	}
	return c
}

// Load reads the default config overlaid by the file at path ("" = defaults only).
func Load(path string) (*Config, error) {
	if path == "" {
		return Parse(nil, "")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("config %s: %w: larger than %d bytes", path, ErrInvalid, MaxFileSize)
	}
	return Parse(b, path)
}

// Parse overlays the YAML text on the embedded default, then applies defaults
// and validates. name is used in error messages.
func Parse(overlay []byte, name string) (*Config, error) {
	var c Config
	if err := decodeInto(&c, defaultYAML, "embedded default"); err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(overlay)) > 0 {
		if err := decodeInto(&c, overlay, name); err != nil {
			return nil, err
		}
	}
	c.Defaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%w%s:\n%w", ErrInvalid, where(name), err)
	}
	return &c, nil
}

func decodeInto(c *Config, text []byte, name string) error {
	var root yaml.Node
	if err := yaml.Unmarshal(text, &root); err != nil {
		return fmt.Errorf("%w%s: %w", ErrInvalid, where(name), err)
	}
	if root.Kind == 0 {
		return nil
	}
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 && root.Content[0].Kind != yaml.MappingNode {
		return fmt.Errorf("%w%s: the document must be a mapping of sections (lab:, sipserver:, ...)", ErrInvalid, where(name))
	}
	if unknown := checkKeys(&root, reflect.TypeOf(c), ""); len(unknown) > 0 {
		return fmt.Errorf("%w%s:\n  %s", ErrInvalid, where(name), strings.Join(unknown, "\n  "))
	}
	if err := root.Decode(c); err != nil {
		return fmt.Errorf("%w%s: %w", ErrInvalid, where(name), err)
	}
	return nil
}

func where(name string) string {
	if name == "" {
		return ""
	}
	return " (" + name + ")"
}

// Defaults fills zero values in every section.
func (c *Config) Defaults() {
	if c.Lab.Host == "" {
		c.Lab.Host = "127.0.0.1"
	}
	if c.Lab.DataDir == "" {
		c.Lab.DataDir = "arlab-data"
	}
	if c.Lab.ExternalRecorder != "" {
		c.Recorders = nil
		for i := range c.ResourceManager.Groups {
			if g := &c.ResourceManager.Groups[i]; g.Kind == resourcemanager.KindRecorder {
				g.Members = []resourcemanager.MemberConfig{{Name: "external", URI: c.Lab.ExternalRecorder}}
			}
		}
	}
	c.SIPServer.Defaults()
	c.ResourceManager.Defaults()
	for i := range c.MediaServers {
		m := &c.MediaServers[i]
		if m.LocalDir == "" && m.Name != "" {
			m.LocalDir = filepath.Join(c.Lab.DataDir, m.Name, "local-recordings")
		}
		m.Defaults()
	}
	for i := range c.Recorders {
		r := &c.Recorders[i]
		if r.DataDir == "" && r.Name != "" {
			r.DataDir = filepath.Join(c.Lab.DataDir, r.Name)
		}
		if r.TLib.AppName == "" {
			r.TLib.AppName = r.Name
		}
		r.Defaults()
	}
}

// Validate checks every section; each error names its key.
func (c *Config) Validate() error {
	var errs []error
	if _, err := netip.ParseAddr(c.Lab.Host); err != nil {
		errs = append(errs, fmt.Errorf("lab.host: %q is not an IP address", c.Lab.Host))
	}
	t := c.Lab.TLS
	if (t.Cert == "") != (t.Key == "") {
		errs = append(errs, errors.New("lab.tls: cert and key go together"))
	}
	for _, p := range []struct{ key, file string }{{"cert", t.Cert}, {"key", t.Key}, {"ca", t.CA}} {
		if p.file == "" {
			continue
		}
		if _, err := os.Stat(p.file); err != nil {
			errs = append(errs, fmt.Errorf("lab.tls.%s: %w", p.key, err))
		}
	}
	if err := c.SIPServer.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.ResourceManager.Validate(); err != nil {
		errs = append(errs, err)
	}
	names := map[string]string{}
	unique := func(key, name string) {
		if prev, dup := names[name]; dup && name != "" {
			errs = append(errs, fmt.Errorf("%s.name: %q is already the name of %s", key, name, prev))
		}
		names[name] = key
	}
	for i, m := range c.MediaServers {
		key := fmt.Sprintf("mediaservers[%d]", i)
		unique(key, m.Name)
		if err := m.ValidateAt(key); err != nil {
			errs = append(errs, err)
		}
	}
	for i, r := range c.Recorders {
		key := fmt.Sprintf("recorders[%d]", i)
		unique(key, r.Name)
		if err := r.ValidateAt(key); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Marshal renders the effective config as YAML.
func (c *Config) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Absolutize makes every path in the config absolute (relative to the
// current directory), so child processes started elsewhere agree on them.
func (c *Config) Absolutize() error {
	abs := func(p *string) error {
		if *p == "" || filepath.IsAbs(*p) {
			return nil
		}
		a, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = a
		return nil
	}
	paths := []*string{&c.Lab.DataDir, &c.Lab.TLS.Cert, &c.Lab.TLS.Key, &c.Lab.TLS.CA}
	for i := range c.MediaServers {
		paths = append(paths, &c.MediaServers[i].LocalDir)
	}
	for i := range c.Recorders {
		paths = append(paths, &c.Recorders[i].DataDir)
	}
	for _, p := range paths {
		if err := abs(p); err != nil {
			return err
		}
	}
	return nil
}
