package cluster

import (
	"errors"
	"fmt"
)

var (
	// ErrMalformed is wrapped by every error about text or a reply that does
	// not have the shape Redis gives it.
	ErrMalformed = errors.New("malformed")
	// ErrInconsistent is wrapped by every error about a view that parses
	// but cannot be true of one node's state, such as a slot with two owners.
	ErrInconsistent = errors.New("inconsistent cluster view")
)

// ParseError says where input was malformed and why. It wraps ErrMalformed.
type ParseError struct {
	// Where is "line N" for CLUSTER NODES and "shard N" or "shard N node M"
	// for CLUSTER SHARDS (all counted from 1); "" for the reply as a whole.
	Where string
	// Field names the field, such as "flags", "config-epoch" or "slot".
	Field string
	// Value is the offending text, shortened when long.
	Value string
	// Reason says what is wrong with it.
	Reason string
}

func (e *ParseError) Error() string {
	msg := "cluster: "
	if e.Where != "" {
		msg += e.Where + ": "
	}
	if e.Field != "" {
		msg += e.Field
		if e.Value != "" {
			msg += fmt.Sprintf(" %q", e.Value)
		}
		msg += ": "
	}
	return msg + e.Reason + " (" + ErrMalformed.Error() + ")"
}

// Unwrap lets errors.Is match ErrMalformed.
func (e *ParseError) Unwrap() error { return ErrMalformed }

// maxValueLen bounds the text a ParseError quotes.
const maxValueLen = 64

func parseErr(where, field, value, reason string) *ParseError {
	if len(value) > maxValueLen {
		value = value[:maxValueLen] + "..."
	}
	return &ParseError{Where: where, Field: field, Value: value, Reason: reason}
}
