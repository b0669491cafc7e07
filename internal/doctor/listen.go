package doctor

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// ListeningAddrs returns the local addresses that TCP sockets listening
// on port are bound to, from /proc/net/tcp and /proc/net/tcp6 (Linux):
// "0.0.0.0" and "::" mean every interface.
func ListeningAddrs(port int) ([]string, error) {
	var out []string
	var errs []error
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		addrs, err := listeningIn(f, port)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, addrs...)
	}
	if len(errs) == 2 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func listeningIn(path string, port int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseProcNet(bufio.NewScanner(f), port)
}

// parseProcNet reads the table of /proc/net/tcp{,6}: each row's local
// address is hex IP:port, the state 0A is LISTEN.
func parseProcNet(sc *bufio.Scanner, port int) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[3] != "0A" {
			continue
		}
		hexIP, hexPort, ok := strings.Cut(fields[1], ":")
		if !ok {
			continue
		}
		p, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil || int(p) != port {
			continue
		}
		ip, err := procIP(hexIP)
		if err != nil {
			return nil, err
		}
		if s := ip.String(); !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out, sc.Err()
}

// procIP decodes the kernel's hex address: 32-bit words in host (little
// endian) order.
func procIP(h string) (netip.Addr, error) {
	b, err := hex.DecodeString(h)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		return netip.Addr{}, fmt.Errorf("address %q in /proc/net: want 8 or 32 hex digits", h)
	}
	for i := 0; i < len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	ip, _ := netip.AddrFromSlice(b)
	return ip.Unmap(), nil
}
