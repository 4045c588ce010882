package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ErrUnsetVariable is wrapped by Parse's error for every ${NAME} in a value
// whose environment variable is not set.
var ErrUnsetVariable = errors.New("environment variable is not set")

// ErrBadReference is wrapped by Parse's error for a ${ in a value that does
// not open a reference: no closing brace, or not a name inside.
var ErrBadReference = errors.New("not a variable reference")

// EnvError lists every reference in the file that could not be replaced,
// in the order of the file.
type EnvError struct{ Problems []error }

func (e *EnvError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Error()
	}
	if len(msgs) == 1 {
		return "environment: " + msgs[0]
	}
	return "environment:\n  - " + strings.Join(msgs, "\n  - ")
}

// Unwrap gives errors.Is and errors.As every problem.
func (e *EnvError) Unwrap() []error { return e.Problems }

// Environment references are replaced in two passes, so that they may
// stand anywhere a value may (inside [ ] too, where a plain { is YAML
// syntax) while only values are ever expanded:
//
//  1. markRefs, on the text: every ${NAME} becomes a marker made of
//     letters, digits and _ that the text does not hold otherwise;
//  2. expandEnv, on the parsed document: markers in values become the
//     variables' values, markers in keys turn back into ${NAME}; markers in
//     comments are dropped with the comments.
//
// Lines stay where they were, so every message cites the right line, and a
// value can never change the document's structure: a variable holding ": "
// or a newline stays one string.

// refs are the variables referenced in a text, indexed by their markers.
type refs struct {
	prefix string   // every marker is prefix + index + "_"
	names  []string // names[i] is the variable of marker i
}

// markRefs returns b with every ${NAME} replaced by a marker. $${ (the
// escape of a literal ${) and a ${ that opens no valid reference are left
// for expandEnv to handle or report.
func markRefs(b []byte) ([]byte, *refs) {
	s := string(b)
	if !strings.Contains(s, "${") {
		return b, nil
	}
	r := &refs{}
	for n := 0; ; n++ {
		r.prefix = "_wardenEnv" + strconv.Itoa(n) + "_"
		if !strings.Contains(s, r.prefix) {
			break
		}
	}
	index := map[string]int{}
	var out strings.Builder
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			out.WriteString("$${")
			i += 3
			continue
		}
		if name, ok := refAt(s[i:]); ok {
			k, seen := index[name]
			if !seen {
				k = len(r.names)
				index[name] = k
				r.names = append(r.names, name)
			}
			out.WriteString(r.prefix + strconv.Itoa(k) + "_")
			i += len(name) + 3
			continue
		}
		out.WriteByte(s[i])
		i++
	}
	return []byte(out.String()), r
}

// refAt returns NAME when s starts with ${NAME}.
func refAt(s string) (string, bool) {
	if !strings.HasPrefix(s, "${") {
		return "", false
	}
	end := strings.IndexByte(s, '}')
	if end < 0 {
		return "", false
	}
	name := s[2:end]
	return name, validVarName(name)
}

// validVarName: letters, digits and _, not starting with a digit.
func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// markerAt returns the index of the marker s starts with.
func (r *refs) markerAt(s string) (k, length int, ok bool) {
	if r == nil || !strings.HasPrefix(s, r.prefix) {
		return 0, 0, false
	}
	rest := s[len(r.prefix):]
	end := strings.IndexByte(rest, '_')
	if end <= 0 {
		return 0, 0, false
	}
	k, err := strconv.Atoi(rest[:end])
	if err != nil || k < 0 || k >= len(r.names) {
		return 0, 0, false
	}
	return k, len(r.prefix) + end + 1, true
}

// expandEnv replaces, in every scalar value below n, the markers of r by
// the value lookup gives for their variable and $${ by ${; see markRefs.
// Every unset variable and every other ${ is reported with its line and
// key. Keys get their ${NAME} back, unexpanded.
func expandEnv(n *yaml.Node, r *refs, lookup func(string) (string, bool)) error {
	var problems []error
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				k.Value = r.restore(k.Value)
				key := k.Value
				if path != "" {
					key = path + "." + key
				}
				walk(n.Content[i+1], key)
			}
		case yaml.SequenceNode:
			for i, item := range n.Content {
				walk(item, fmt.Sprintf("%s[%d]", path, i))
			}
		case yaml.ScalarNode:
			v, errs := r.expand(n.Value, lookup)
			for _, err := range errs {
				problems = append(problems, fmt.Errorf("line %d: %s: %w", n.Line, path, err))
			}
			if len(errs) == 0 && v != n.Value {
				n.Value = v
				if n.Style&(yaml.TaggedStyle|yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
					// A plain scalar is typed by what it holds once
					// expanded: ${PORT} may fill an integer key.
					n.Tag = ""
				}
			}
		case yaml.AliasNode:
			// Expanded where its anchor stands, once.
		}
	}
	walk(n, "")
	if len(problems) > 0 {
		return &EnvError{Problems: problems}
	}
	return nil
}

// expand is one value with its markers replaced; see expandEnv.
func (r *refs) expand(s string, lookup func(string) (string, bool)) (string, []error) {
	if !strings.Contains(s, "${") && (r == nil || !strings.Contains(s, r.prefix)) {
		return s, nil
	}
	var b strings.Builder
	var errs []error
	for i := 0; i < len(s); {
		if k, n, ok := r.markerAt(s[i:]); ok {
			name := r.names[k]
			if v, set := lookup(name); set {
				b.WriteString(v)
			} else {
				errs = append(errs, fmt.Errorf("${%s}: %w", name, ErrUnsetVariable))
			}
			i += n
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			bad := s[i:]
			if end := strings.IndexByte(bad, '}'); end >= 0 {
				bad = bad[:end+1]
				errs = append(errs, fmt.Errorf("%s: %w: want ${NAME}, NAME made of letters, digits and _ (write $${ for a literal ${)", r.restore(bad), ErrBadReference))
			} else {
				errs = append(errs, fmt.Errorf("%q: %w: ${ without a closing } (write $${ for a literal ${)", r.restore(bad), ErrBadReference))
			}
			i += len(bad)
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), errs
}

// restore turns the markers in s back into ${NAME}.
func (r *refs) restore(s string) string {
	if r == nil || !strings.Contains(s, r.prefix) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if k, n, ok := r.markerAt(s[i:]); ok {
			b.WriteString("${" + r.names[k] + "}")
			i += n
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// escapeEnv writes every literal ${ in the scalar values below n as $${, the
// inverse of the expansion for a value without references.
func escapeEnv(n *yaml.Node) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			escapeEnv(c)
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			escapeEnv(n.Content[i])
		}
	case yaml.ScalarNode:
		n.Value = escapeString(n.Value)
	}
}

// escapeString is s written so that the expansion gives s back.
func escapeString(s string) string { return strings.ReplaceAll(s, "${", "$${") }
