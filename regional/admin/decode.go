package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strings"

	"github.com/tollgate-dev/tollgate/regional/apierror"
)

// DefaultMaxBodyBytes bounds an admin request body when Config.MaxBodyBytes
// is 0. The largest legitimate body (a customer with many model patterns
// and tags) is a few KiB.
const DefaultMaxBodyBytes = 64 << 10

// decodeBody reads the JSON object in r's body into v (a pointer to a
// struct). It refuses bodies over maxBytes, malformed JSON, trailing data,
// values of the wrong type, and unknown fields, naming every unknown field
// by its path. An empty body leaves v as it is when optional is true.
func decodeBody(r *http.Request, v any, maxBytes int64, optional bool) error {
	if r.ContentLength > maxBytes {
		return tooLarge(maxBytes)
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBytes+1))
	if err != nil {
		return apierror.New(apierror.InvalidRequest, "could not read the request body")
	}
	if int64(len(data)) > maxBytes {
		return tooLarge(maxBytes)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		if optional {
			return nil
		}
		return apierror.New(apierror.InvalidRequest, "the request body is empty: send a JSON object")
	}

	// First pass: the generic shape, to report every unknown field with
	// its full path (encoding/json names only the first, without path).
	var generic any
	if err := json.Unmarshal(data, &generic); err != nil {
		return syntaxError(err)
	}
	if _, ok := generic.(map[string]any); !ok {
		return apierror.New(apierror.InvalidRequest, "the request body must be a JSON object")
	}
	var unknown []apierror.FieldError
	checkFields(reflect.TypeOf(v), generic, "", &unknown)
	if len(unknown) > 0 {
		sort.Slice(unknown, func(i, j int) bool { return unknown[i].Field < unknown[j].Field })
		return &apierror.Error{Type: apierror.InvalidRequest, Message: "the request has unknown fields (field names are case-sensitive)", Fields: unknown}
	}

	// Second pass: into the typed value. Unknown fields stay refused as a
	// safety net for cases the first pass does not model.
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := te.Field
			if field == "" {
				field = "(body)"
			}
			return &apierror.Error{Type: apierror.InvalidRequest, Message: "a field has the wrong type",
				Fields: []apierror.FieldError{{Field: field, Message: fmt.Sprintf("must be %s, got %s", jsonKind(te.Type), te.Value)}}}
		}
		return syntaxError(err)
	}
	return nil
}

func tooLarge(maxBytes int64) error {
	return apierror.New(apierror.PayloadTooLarge, fmt.Sprintf("the request body exceeds %d bytes", maxBytes))
}

func syntaxError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return apierror.New(apierror.InvalidRequest, fmt.Sprintf("malformed JSON at byte %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: ")))
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return apierror.New(apierror.InvalidRequest, "malformed JSON: the body ends in the middle of a value")
	}
	return apierror.New(apierror.InvalidRequest, "malformed JSON: "+strings.TrimPrefix(err.Error(), "json: "))
}

// jsonKind names a Go type as the JSON value it accepts.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return t.String()
}

// checkFields walks a decoded JSON value against the Go type it will be
// decoded into and appends every object key that names no field, by path
// ("limits.requests_per_minute", "tags.x" never, "allowed_models[2]").
// Keys must match the json tag exactly.
func checkFields(t reflect.Type, v any, path string, out *[]apierror.FieldError) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return // a type error, reported by the second pass
		}
		fields := jsonFields(t)
		for k, sub := range obj {
			ft, ok := fields[k]
			if !ok {
				*out = append(*out, apierror.FieldError{Field: join(path, k), Message: "unknown field"})
				continue
			}
			checkFields(ft, sub, join(path, k), out)
		}
	case reflect.Map:
		if obj, ok := v.(map[string]any); ok {
			for k, sub := range obj {
				checkFields(t.Elem(), sub, join(path, k), out)
			}
		}
	case reflect.Slice, reflect.Array:
		if arr, ok := v.([]any); ok {
			for i, sub := range arr {
				checkFields(t.Elem(), sub, fmt.Sprintf("%s[%d]", path, i), out)
			}
		}
	}
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// jsonFields maps the JSON names of a struct's fields to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			for k, v := range jsonFields(f.Type) {
				m[k] = v
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	return m
}
