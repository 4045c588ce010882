package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// decodeRESP reads one RESP2 or RESP3 reply into the values go-redis's Do
// gives back (github.com/redis/go-redis/v9, internal/proto): simple and bulk
// strings as string, verbatim strings without their "txt:" prefix,
// integers as int64, doubles as float64, booleans as bool, arrays, sets
// and pushes as []any, maps as map[any]any, nulls as nil, and errors inside
// an array as respError. It exists so that fixtures can be stored as the
// raw bytes Redis sent and parsed the way the watchdogs will see them.
func decodeRESP(b []byte) (any, error) {
	d := respDecoder{buf: b}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	if d.pos != len(d.buf) {
		return nil, fmt.Errorf("resp: %d bytes after the reply", len(d.buf)-d.pos)
	}
	if e, ok := v.(respError); ok {
		return nil, e
	}
	return v, nil
}

type respError string

func (e respError) Error() string { return string(e) }

type respDecoder struct {
	buf []byte
	pos int
}

var errRESP = errors.New("resp: malformed")

const respMaxDepth = 32

func (d *respDecoder) line() ([]byte, error) {
	i := bytes.Index(d.buf[d.pos:], []byte("\r\n"))
	if i < 0 {
		return nil, errRESP
	}
	l := d.buf[d.pos : d.pos+i]
	d.pos += i + 2
	return l, nil
}

func (d *respDecoder) length(l []byte) (int, error) {
	n, err := strconv.Atoi(string(l))
	if err != nil || n < -1 || n > len(d.buf)-d.pos {
		return 0, errRESP
	}
	return n, nil
}

func (d *respDecoder) value(depth int) (any, error) {
	if depth > respMaxDepth {
		return nil, errRESP
	}
	l, err := d.line()
	if err != nil || len(l) == 0 {
		return nil, errRESP
	}
	kind, body := l[0], l[1:]
	switch kind {
	case '+':
		return string(body), nil
	case '-':
		return respError(body), nil
	case ':':
		n, err := strconv.ParseInt(string(body), 10, 64)
		if err != nil {
			return nil, errRESP
		}
		return n, nil
	case '_':
		return nil, nil
	case ',':
		f, err := strconv.ParseFloat(string(body), 64)
		if err != nil {
			return nil, errRESP
		}
		return f, nil
	case '#':
		switch string(body) {
		case "t":
			return true, nil
		case "f":
			return false, nil
		}
		return nil, errRESP
	case '$', '=':
		n, err := d.length(body)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, nil
		}
		if d.pos+n+2 > len(d.buf) || string(d.buf[d.pos+n:d.pos+n+2]) != "\r\n" {
			return nil, errRESP
		}
		s := string(d.buf[d.pos : d.pos+n])
		d.pos += n + 2
		if kind == '=' {
			if len(s) < 4 || s[3] != ':' {
				return nil, errRESP
			}
			s = s[4:]
		}
		return s, nil
	case '*', '~', '>':
		n, err := d.length(body)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, nil
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = d.value(depth + 1); err != nil {
				return nil, err
			}
		}
		return out, nil
	case '%':
		n, err := d.length(body)
		if err != nil || n < 0 {
			return nil, errRESP
		}
		out := make(map[any]any, n)
		for i := 0; i < n; i++ {
			k, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			switch k.(type) {
			case []any, map[any]any:
				return nil, errRESP // go-redis refuses unhashable keys too
			}
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	}
	return nil, errRESP
}

// encodeRESP writes v (as decodeRESP returns it) back as RESP: []any as an
// array, map[any]any as a RESP3 map, string as a bulk string, int64 and int
// as integers, nil as a null bulk string.
func encodeRESP(v any) []byte {
	var b bytes.Buffer
	var enc func(v any)
	enc = func(v any) {
		switch x := v.(type) {
		case nil:
			b.WriteString("$-1\r\n")
		case string:
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(x), x)
		case int64:
			fmt.Fprintf(&b, ":%d\r\n", x)
		case int:
			fmt.Fprintf(&b, ":%d\r\n", x)
		case []any:
			fmt.Fprintf(&b, "*%d\r\n", len(x))
			for _, e := range x {
				enc(e)
			}
		case map[any]any:
			fmt.Fprintf(&b, "%%%d\r\n", len(x))
			for k, e := range x {
				enc(k)
				enc(e)
			}
		default:
			panic(fmt.Sprintf("encodeRESP: %T", v))
		}
	}
	enc(v)
	return b.Bytes()
}
