// Package logging builds Tollgate's zerolog loggers: JSON lines by default
// (what log pipelines ingest), a readable console format for people.
package logging

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"
)

// Format names accepted by New.
const (
	FormatJSON    = "json"
	FormatConsole = "console"
)

// New returns a logger writing to w in the given format ("json" or
// "console") at the given level ("debug", "info", "warn", "error"; empty
// means info). Every line carries a timestamp and the component name.
func New(w io.Writer, format, level, component string) (zerolog.Logger, error) {
	if w == nil {
		w = os.Stderr
	}
	lvl := zerolog.InfoLevel
	if level != "" {
		var err error
		if lvl, err = zerolog.ParseLevel(level); err != nil {
			return zerolog.Nop(), fmt.Errorf("log level %q: %w", level, err)
		}
	}
	switch format {
	case "", FormatJSON:
	case FormatConsole:
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	default:
		return zerolog.Nop(), fmt.Errorf("log format %q: want %q or %q", format, FormatJSON, FormatConsole)
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	l := zerolog.New(w).Level(lvl).With().Timestamp().Logger()
	if component != "" {
		l = l.With().Str("component", component).Logger()
	}
	return l, nil
}
