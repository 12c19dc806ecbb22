package migrate

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// decodeStrict decodes data into v (a pointer to a struct) and fails on a
// field v's type does not declare, naming its JSON path. encoding/json's
// DisallowUnknownFields names the field but not where it is, so the raw
// document is walked beside the type instead.
func decodeStrict(app string, data []byte, v any) error {
	var raw any
	if err := json.Unmarshal(data, &raw); err != nil {
		return &FieldError{App: app, Err: jsonError(err)}
	}
	if err := printable("", raw); err != nil {
		err.App = app
		return err
	}
	if err := knownFields("", raw, reflect.TypeOf(v)); err != nil {
		err.App = app
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return &FieldError{App: app, Field: te.Field, Err: fmt.Errorf("%w: %s where %s is expected", ErrInvalidJSON, te.Value, te.Type)}
		}
		var fe *FieldError
		if errors.As(err, &fe) {
			fe.App = app
			return fe
		}
		return &FieldError{App: app, Err: jsonError(err)}
	}
	return nil
}

// jsonError wraps a syntax error with where it is.
func jsonError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%w: %v (at byte %d)", ErrInvalidJSON, se, se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("%w: %s where %s is expected", ErrInvalidJSON, te.Value, te.Type)
	}
	return fmt.Errorf("%w: %v", ErrInvalidJSON, err)
}

var (
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	rawMessageType  = reflect.TypeFor[json.RawMessage]()
)

// knownFields checks that every object key in raw is a field of t, at any
// depth. Types that decode themselves (json.Unmarshaler) check their own.
func knownFields(path string, raw any, t reflect.Type) *FieldError {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType || reflect.PointerTo(t).Implements(unmarshalerType) || t.Kind() == reflect.Interface {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := raw.(map[string]any)
		if !ok {
			return nil // a type error, reported by json.Unmarshal with its path
		}
		fields := jsonFields(t)
		for k, v := range obj {
			ft, ok := fields[k]
			if !ok {
				return &FieldError{Field: join(path, k), Err: ErrUnknownField}
			}
			if err := knownFields(join(path, k), v, ft); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		arr, ok := raw.([]any)
		if !ok {
			return nil
		}
		for i, v := range arr {
			if err := knownFields(fmt.Sprintf("%s[%d]", path, i), v, t.Elem()); err != nil {
				return err
			}
		}
	case reflect.Map:
		obj, ok := raw.(map[string]any)
		if !ok {
			return nil
		}
		for k, v := range obj {
			if err := knownFields(join(path, k), v, t.Elem()); err != nil {
				return err
			}
		}
	}
	return nil
}

// jsonFields are the JSON names of a struct's fields (embedded structs
// flattened), and their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// printable checks that every string (and key) is text a manifest can
// hold: YAML allows tabs and line breaks but no other control characters.
func printable(path string, raw any) *FieldError {
	check := func(p, s string) *FieldError {
		for _, r := range s {
			if !yamlPrintable(r) {
				return &FieldError{Field: p, Err: errorf(ErrImpossibleValue, "control character %U", r)}
			}
		}
		return nil
	}
	switch t := raw.(type) {
	case string:
		return check(path, t)
	case []any:
		for i, v := range t {
			if err := printable(fmt.Sprintf("%s[%d]", path, i), v); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, v := range t {
			if err := check(join(path, k), k); err != nil {
				return err
			}
			if err := printable(join(path, k), v); err != nil {
				return err
			}
		}
	}
	return nil
}

// yamlPrintable is YAML 1.1's printable set.
func yamlPrintable(r rune) bool {
	switch {
	case r == 0x9, r == 0xA, r == 0xD, r >= 0x20 && r <= 0x7E, r == 0x85:
		return true
	case r >= 0xA0 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD && r != 0xFEFF, r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}
