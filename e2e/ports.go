package e2e

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
)

// Ports are chosen in [PortLow, PortHigh): below the kernel's ephemeral
// range (32768 and up), with room for a cluster bus port (port + 10000).
const (
	PortLow  = 12000
	PortHigh = 22000
)

// ErrNoFreePort is returned when no free port was found after many tries.
var ErrNoFreePort = errors.New("no free loopback port found")

// handed remembers every port this process gave out, so two callers never
// get the same one even before either binds it.
var handed = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// FreePort returns a loopback TCP port in [PortLow, PortHigh) that was free
// a moment ago (checked by binding it) and whose port+10000 was free too,
// and that this process has not handed out before.
func FreePort() (int, error) {
	ps, err := FreePorts(1)
	if err != nil {
		return 0, err
	}
	return ps[0], nil
}

// FreePorts returns n distinct ports as FreePort does.
func FreePorts(n int) ([]int, error) {
	handed.Lock()
	defer handed.Unlock()
	var out []int
	for tries := 0; len(out) < n; tries++ {
		if tries > 2000 {
			return nil, fmt.Errorf("%w in [%d, %d) after %d tries", ErrNoFreePort, PortLow, PortHigh, tries)
		}
		p := PortLow + rand.IntN(PortHigh-PortLow)
		if handed.ports[p] || !portFree(p) || !portFree(p+10000) {
			continue
		}
		handed.ports[p] = true
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
