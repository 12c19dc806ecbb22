package migrate

import (
	"bytes"
	"encoding/json"
	"path"
	"strings"
)

// Definitions are the apps and pods of one Marathon document, with ids made
// absolute (an app "web" in group "/shop" is "/shop/web").
type Definitions struct {
	Apps   []App
	Pods   []Pod
	Groups []GroupNote // groups with something to say (dependencies, enforceRole)
}

// GroupNote is what a group says about its members.
type GroupNote struct {
	ID           string
	Dependencies []string
	EnforceRole  *bool
}

// DecodeMarathon decodes any Marathon document: one app, an array of apps,
// a group with nested groups, apps and pods (POST or GET /v2/groups), the
// answer of GET /v2/apps ({"apps": [...]}) or of GET /v2/pods (an array of
// pods), or one pod. Every field must be in the documented schema and every
// value possible, or the error is a *FieldError naming the app and field.
func DecodeMarathon(data []byte) (*Definitions, error) {
	data = bytes.TrimSpace(data)
	var defs Definitions
	if len(data) > 0 && data[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(data, &items); err != nil {
			return nil, &FieldError{Err: jsonError(err)}
		}
		for _, it := range items {
			if err := defs.add("/", it); err != nil {
				return nil, err
			}
		}
		return &defs, nil
	}
	if err := defs.add("/", data); err != nil {
		return nil, err
	}
	return &defs, nil
}

// add decodes one object under group parent: an app, a pod or a group.
func (d *Definitions) add(parent string, data json.RawMessage) error {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(data, &keys); err != nil {
		return &FieldError{Err: jsonError(err)}
	}
	var id string
	if raw, ok := keys["id"]; ok {
		if err := json.Unmarshal(raw, &id); err != nil {
			return &FieldError{Field: "id", Err: jsonError(err)}
		}
	}
	_, hasApps := keys["apps"]
	_, hasGroups := keys["groups"]
	_, hasPods := keys["pods"]
	_, hasContainers := keys["containers"]
	switch {
	case hasApps || hasGroups || hasPods:
		return d.addGroup(parent, id, data)
	case hasContainers:
		abs, err := absoluteID(parent, id)
		if err != nil {
			return err
		}
		var p Pod
		if err := decodeStrict(abs, data, &p); err != nil {
			return err
		}
		p.ID = abs
		if err := validatePod(&p); err != nil {
			return err
		}
		d.Pods = append(d.Pods, p)
	default:
		abs, err := absoluteID(parent, id)
		if err != nil {
			return err
		}
		var a App
		if err := decodeStrict(abs, data, &a); err != nil {
			return err
		}
		a.ID = abs
		if err := validateApp(&a); err != nil {
			return err
		}
		d.Apps = append(d.Apps, a)
	}
	return nil
}

func (d *Definitions) addGroup(parent, id string, data json.RawMessage) error {
	abs := "/"
	if id != "" && id != "/" {
		var err error
		if abs, err = absoluteID(parent, id); err != nil {
			return err
		}
	}
	var g Group
	if err := decodeStrict(abs, data, &g); err != nil {
		return err
	}
	if len(g.Dependencies) > 0 || g.EnforceRole != nil {
		d.Groups = append(d.Groups, GroupNote{ID: abs, Dependencies: g.Dependencies, EnforceRole: g.EnforceRole})
	}
	for _, list := range [][]json.RawMessage{g.Apps, g.Pods, g.Groups} {
		for _, it := range list {
			if err := d.add(abs, it); err != nil {
				return err
			}
		}
	}
	return nil
}

// absoluteID resolves id against the group path parent, as Marathon does:
// a relative id is under the group, ".." goes up.
func absoluteID(parent, id string) (string, error) {
	if id == "" {
		return "", &FieldError{Field: "id", Err: errorf(ErrImpossibleValue, "missing")}
	}
	abs := id
	if !strings.HasPrefix(id, "/") {
		abs = parent + "/" + id
	}
	clean := path.Clean(abs)
	for _, seg := range strings.Split(strings.TrimPrefix(clean, "/"), "/") {
		if !validIDSegment(seg) {
			return "", &FieldError{App: id, Field: "id", Err: errorf(ErrImpossibleValue,
				"segment %q: Marathon ids are lowercase letters, digits, '-' and '.', starting and ending with a letter or digit", seg)}
		}
	}
	return clean, nil
}

func validIDSegment(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	for i, r := range s {
		alnum := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		if !alnum && !(r == '-' || r == '.') {
			return false
		}
		if !alnum && (i == 0 || i == len(s)-1) {
			return false
		}
	}
	return true
}

// DecodeMetronome decodes one Metronome job or an array of them (GET
// /v1/jobs?embed=schedules).
func DecodeMetronome(data []byte) ([]MetronomeJob, error) {
	items, err := objects(data)
	if err != nil {
		return nil, err
	}
	var out []MetronomeJob
	for _, it := range items {
		id := peekString(it, "id")
		var j MetronomeJob
		if err := decodeStrict(id, it, &j); err != nil {
			return nil, err
		}
		if err := validateMetronome(&j); err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

// DecodeChronos decodes one Chronos job or an array of them (GET
// /scheduler/jobs).
func DecodeChronos(data []byte) ([]ChronosJob, error) {
	items, err := objects(data)
	if err != nil {
		return nil, err
	}
	var out []ChronosJob
	for _, it := range items {
		name := peekString(it, "name")
		var j ChronosJob
		if err := decodeStrict(name, it, &j); err != nil {
			return nil, err
		}
		if err := validateChronos(&j); err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

// objects splits a document that is one object or an array of them.
func objects(data []byte) ([]json.RawMessage, error) {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(data, &items); err != nil {
			return nil, &FieldError{Err: jsonError(err)}
		}
		return items, nil
	}
	if !json.Valid(data) {
		var v any
		return nil, &FieldError{Err: jsonError(json.Unmarshal(data, &v))}
	}
	return []json.RawMessage{data}, nil
}

// peekString is the string field key of a JSON object, or "".
func peekString(data []byte, key string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return ""
	}
	var s string
	_ = json.Unmarshal(m[key], &s)
	return s
}
