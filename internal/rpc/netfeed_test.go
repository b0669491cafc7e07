package rpc

import "testing"

func TestNetFeedSendsUntilUnsubscribed(t *testing.T) {
	var f NetFeed
	var a, b []string
	stopA := f.Subscribe(func(ev NetEvent) { a = append(a, ev.Type) })
	stopB := f.Subscribe(func(ev NetEvent) { b = append(b, ev.Type) })
	f.Send(NetEvent{Type: "arrival"})
	stopA()
	f.Send(NetEvent{Type: "reorg"})
	stopB()
	stopB() // twice is harmless
	f.Send(NetEvent{Type: "tip"})
	if len(a) != 1 || a[0] != "arrival" {
		t.Errorf("first subscriber got %v, want [arrival]", a)
	}
	if len(b) != 2 || b[0] != "arrival" || b[1] != "reorg" {
		t.Errorf("second subscriber got %v, want [arrival reorg]", b)
	}
}
