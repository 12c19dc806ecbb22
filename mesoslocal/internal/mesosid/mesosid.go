// Package mesosid validates the IDs frameworks choose (task, executor and
// persistence IDs) as Mesos' common::validation::validateID does: the
// agent names directories after them, so each must be usable as one path
// element.
package mesosid

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// Validate returns why id cannot be a Mesos task, executor or persistence
// ID, or nil.
func Validate(id string) error {
	switch {
	case id == "":
		return errors.New("ID must not be empty")
	case len(id) > 255:
		return errors.New("ID must not be greater than 255 characters")
	case id == "." || id == "..":
		return fmt.Errorf("'%s' is disallowed", id)
	case strings.ContainsAny(id, "/\\"):
		return errors.New("'/' and '\\' are disallowed")
	}
	for _, r := range id {
		if !unicode.IsPrint(r) {
			return errors.New("non-printable characters are disallowed")
		}
	}
	return nil
}
