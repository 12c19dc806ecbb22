package migrate

import (
	"errors"
	"fmt"
)

// The kinds of bad input. A FieldError wraps one of them; test with errors.Is.
var (
	// ErrInvalidJSON is input that is not JSON, or JSON of the wrong shape.
	ErrInvalidJSON = errors.New("invalid JSON")
	// ErrUnknownField is a field the documented schema does not have.
	ErrUnknownField = errors.New("unknown field")
	// ErrImpossibleValue is a value Marathon, Metronome or Chronos would reject.
	ErrImpossibleValue = errors.New("impossible value")
)

// FieldError is a definition that cannot be decoded: which app, pod or job,
// which field (a JSON path such as container.portMappings[0].hostPort), and
// why.
type FieldError struct {
	App   string // the app, pod or job id; empty when the input has none
	Field string // JSON path of the field; empty for the whole document
	Err   error  // wraps ErrInvalidJSON, ErrUnknownField or ErrImpossibleValue
}

func (e *FieldError) Error() string {
	app := e.App
	if app == "" {
		app = "(no id)"
	}
	if e.Field == "" {
		return fmt.Sprintf("%s: %v", app, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", app, e.Field, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

// impossible is an ErrImpossibleValue at field of app.
func impossible(app, field, format string, a ...any) *FieldError {
	return &FieldError{App: app, Field: field, Err: errorf(ErrImpossibleValue, format, a...)}
}

// errorf wraps kind with a detail.
func errorf(kind error, format string, a ...any) error {
	return fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, a...))
}
