// Package config owns the lab configuration: one YAML document with an embedded
// default, overlaid by the user's file, checked strictly (unknown keys name
// their full path and line) and validated section by section. Each service
// package owns the type of its own section; this package composes them.
package config
