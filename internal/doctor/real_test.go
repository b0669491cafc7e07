package doctor

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
)

// The listening addresses of real sockets: one bound to loopback, one to
// every interface (bound only; nothing connects to it).
func TestListeningAddrs(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/net/tcp: Linux only")
	}
	lo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lo.Close()
	all, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	for _, tc := range []struct {
		l    net.Listener
		want string
	}{{lo, "127.0.0.1"}, {all, "0.0.0.0"}} {
		got, err := ListeningAddrs(tc.l.Addr().(*net.TCPAddr).Port)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, []string{tc.want}) {
			t.Errorf("port of %s: bound to %v, want [%s]", tc.l.Addr(), got, tc.want)
		}
	}
}

func TestParseProcNetIPv6(t *testing.T) {
	table := `  sl  local_address                         remote_address                        st tx_queue rx_queue
   0: 00000000000000000000000000000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 00000000000000000000000001000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
   2: 00000000000000000000000001000000:1F92 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0
   3: 00000000000000000000000001000000:1F91 0000000000000000000000000100000:D431 01 00000000:00000000 00:00000000 00000000     0        0 4 1 0 100 0 0 10 0
`
	got, err := parseProcNet(bufio.NewScanner(strings.NewReader(table)), 0x1F91)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"::", "::1"}) { // not port 8082, not the established row
		t.Fatalf("got %v, want [:: ::1]", got)
	}
	if _, err := parseProcNet(bufio.NewScanner(strings.NewReader("0: XYZ:1F91 0:0 0A")), 0x1F91); err == nil {
		t.Fatal("a malformed address was accepted")
	}
}

// A full disk: the data dir on a 2 MiB tmpfs mounted by the test, filled
// to the brim. Needs root (CI runs as root).
func TestDiskFullTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root: run as root to test a real full disk")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount -t tmpfs: %v: %s (no mount permission in this environment)", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	data := filepath.Join(dir, "peerchain")
	if err := os.MkdirAll(filepath.Join(data, "chaindata"), 0o700); err != nil {
		t.Fatal(err)
	}
	// Fill it: writes fail when the tmpfs is full.
	f, err := os.Create(filepath.Join(data, "chaindata", "000001.sst"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()
	free, total, err := OSDisk{}.Space(data)
	if err != nil {
		t.Fatal(err)
	}
	if total != 2<<20 || free > 64<<10 {
		t.Fatalf("tmpfs: %d free of %d, want ~0 of 2 MiB", free, total)
	}
	rs, err := Run(context.Background(), Config{DataDir: data, Window: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Name != "disk" || rs[0].Status != Fail || !strings.Contains(rs[0].What, "of 2.0 MiB") {
		t.Fatalf("full disk: %+v", rs)
	}
	t.Logf("%s: %s", rs[0].Status, rs[0].What)
}

// Reachability against a real libp2p host on loopback: its address
// answers, a closed port does not.
func TestP2PDialer(t *testing.T) {
	target, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	d, err := NewP2PDialer()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	good := target.Addrs()[0].String() + "/p2p/" + target.ID().String()
	closed := "/ip4/127.0.0.1/tcp/" + closedPort(t) + "/p2p/" + target.ID().String()
	info := Info{ID: target.ID().String(), Listen: []string{good}}
	r := CheckReachability(context.Background(), d, 5*time.Second, info, nil)
	if r.Status != Warn || !strings.Contains(r.What, "loopback only") {
		t.Fatalf("a live loopback address: %s %q", r.Status, r.What)
	}
	info.Listen = []string{closed}
	r = CheckReachability(context.Background(), d, 5*time.Second, info, nil)
	if r.Status != Fail || !strings.Contains(r.What, closed) {
		t.Fatalf("a closed port: %s %q", r.Status, r.What)
	}
	info.Listen = []string{good, closed}
	if r = CheckReachability(context.Background(), d, 5*time.Second, info, nil); r.Status != Warn || !strings.Contains(r.What, "1 of 2") {
		t.Fatalf("one of two: %s %q", r.Status, r.What)
	}
	// The wrong peer id at a live address: the handshake names another
	// peer, so the address does not count as ours.
	other, err := libp2p.New(libp2p.NoListenAddrs)
	if err != nil {
		t.Fatal(err)
	}
	other.Close()
	info.Listen = []string{target.Addrs()[0].String() + "/p2p/" + other.ID().String()}
	if r = CheckReachability(context.Background(), d, 5*time.Second, info, nil); r.Status != Fail {
		t.Fatalf("an impostor at the address: %s %q", r.Status, r.What)
	}
}

func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	return port
}
