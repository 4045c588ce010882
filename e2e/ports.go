package e2e

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
)

// Ports are chosen in [PortLow, PortHigh): below the kernel's ephemeral
// range (32768 and up), with room for a cluster bus port (port + 10000).
const (
	PortLow  = 12000
	PortHigh = 22000
)

// ErrNoFreePort is returned when no free port was found after many tries.
var ErrNoFreePort = errors.New("no free loopback port found")

// FreePort returns a loopback TCP port in [PortLow, PortHigh) that was free
// a moment ago (checked by binding it) and whose port+10000 was free too.
// Callers bind what they get right away; ports are drawn at random from a
// range of 10,000, so two draws of one run rarely meet.
func FreePort() (int, error) {
	ps, err := FreePorts(1)
	if err != nil {
		return 0, err
	}
	return ps[0], nil
}

// FreePorts returns n distinct ports as FreePort does.
func FreePorts(n int) ([]int, error) {
	seen := map[int]bool{}
	var out []int
	for tries := 0; len(out) < n; tries++ {
		if tries > 2000 {
			return nil, fmt.Errorf("%w in [%d, %d) after %d tries", ErrNoFreePort, PortLow, PortHigh, tries)
		}
		p := PortLow + rand.IntN(PortHigh-PortLow)
		if seen[p] || !portFree(p) || !portFree(p+10000) {
			continue
		}
		seen[p] = true
		out = append(out, p)
	}
	return out, nil
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// Addr returns "127.0.0.1:port".
func Addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
