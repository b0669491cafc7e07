package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/peerchain/peerchain/internal/doctor"
)

// No peer at the URL: the doctor says so, still checks the data dir, and
// exits with an error naming the failed check.
func TestDoctorNoPeer(t *testing.T) {
	var out bytes.Buffer
	url := "http://127.0.0.1:" + closedTCPPort(t)
	err := runDoctor(context.Background(), &out, url, t.TempDir(), 50*time.Millisecond, false, true)
	if err == nil || !strings.Contains(err.Error(), "1 check(s) failed: peer") {
		t.Fatalf("err %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "FAIL  peer") || !strings.Contains(out.String(), "fix: start the peer") || !strings.Contains(out.String(), "disk") {
		t.Fatalf("output:\n%s", out.String())
	}
	out.Reset()
	if err := runDoctor(context.Background(), &out, "off", t.TempDir(), 50*time.Millisecond, true, true); err != nil {
		t.Fatal(err)
	}
	var rs []doctor.Result
	if err := json.Unmarshal(out.Bytes(), &rs); err != nil || len(rs) != 1 || rs[0].Name != "disk" {
		t.Fatalf("--json with --rpc off: %v %s", err, out.String())
	}
}

func closedTCPPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	return port
}
