package wallet

import (
	"errors"
	"math/big"
	"strings"
	"testing"
)

func TestParseAmount(t *testing.T) {
	ether := func(s string) *big.Int {
		v, ok := new(big.Int).SetString(s+"000000000000000000", 10)
		if !ok {
			t.Fatalf("bad test value %q", s)
		}
		return v
	}
	maxWei := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	tests := []struct {
		in   string
		want *big.Int
	}{
		{"1.5", big.NewInt(1_500_000_000_000_000_000)},
		{"1.5ether", big.NewInt(1_500_000_000_000_000_000)},
		{"1.5 ETH", big.NewInt(1_500_000_000_000_000_000)},
		{" 2 ether ", ether("2")},
		{"10000", ether("10000")},
		{"1000wei", big.NewInt(1000)},
		{"2gwei", big.NewInt(2_000_000_000)},
		{"2.5GWei", big.NewInt(2_500_000_000)},
		{"0.000000001gwei", big.NewInt(1)},
		{".5", big.NewInt(500_000_000_000_000_000)},
		{"3.", ether("3")},
		{"0", big.NewInt(0)},
		{"1.000000000000000001", big.NewInt(1_000_000_000_000_000_001)},
		{"1.0wei", big.NewInt(1)}, // a zero decimal is no decimal
		{"1.50gwei", big.NewInt(1_500_000_000)},
		{maxWei.String() + "wei", maxWei},
	}
	for _, tt := range tests {
		got, err := ParseAmount(tt.in)
		if err != nil {
			t.Errorf("ParseAmount(%q): %v", tt.in, err)
			continue
		}
		if got.Cmp(tt.want) != 0 {
			t.Errorf("ParseAmount(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseAmountErrors(t *testing.T) {
	tests := []struct{ in, rule string }{
		{"", "want a non-negative decimal"},
		{"abc", "unknown unit"},
		{"1.5 bitcoin", "unknown unit \"bitcoin\""},
		{"-1", "must not be negative"},
		{"1.5wei", "wei amounts are whole numbers"},
		{"1.0000000001gwei", "10 decimals, but gwei has 9"},
		{"0.0000000000000000001", "19 decimals, but ether has 18"},
		{"1e18", "want a non-negative decimal"},
		{"0x10", "want a non-negative decimal"},
		{"1.2.3", "want a non-negative decimal"},
		{".", "want a non-negative decimal"},
		{"1,5", "want a non-negative decimal"},
		{new(big.Int).Lsh(big.NewInt(1), 256).String() + "wei", "above 2^256-1 wei"},
	}
	for _, tt := range tests {
		_, err := ParseAmount(tt.in)
		if !errors.Is(err, ErrBadAmount) {
			t.Errorf("ParseAmount(%q) error = %v, want ErrBadAmount", tt.in, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.rule) || !strings.Contains(err.Error(), `"`+tt.in+`"`) {
			t.Errorf("ParseAmount(%q) error = %q, want the value and %q", tt.in, err, tt.rule)
		}
	}
}

func TestFormatUnits(t *testing.T) {
	tests := []struct {
		wei      string
		decimals int
		want     string
	}{
		{"0", 18, "0"},
		{"1", 18, "0.000000000000000001"},
		{"1500000000000000000", 18, "1.5"},
		{"10000000000000000000000", 18, "10000"},
		{"2750000000", 9, "2.75"},
		{"-1500000000000000000", 18, "-1.5"},
		{"123", 0, "123"},
	}
	for _, tt := range tests {
		v, _ := new(big.Int).SetString(tt.wei, 10)
		if got := FormatUnits(v, tt.decimals); got != tt.want {
			t.Errorf("FormatUnits(%s, %d) = %q, want %q", tt.wei, tt.decimals, got, tt.want)
		}
		if tt.decimals == 18 && tt.wei[0] != '-' {
			back, err := ParseAmount(FormatEther(v))
			if err != nil || back.Cmp(v) != 0 {
				t.Errorf("ParseAmount(FormatEther(%s)) = %v, %v: not a round trip", tt.wei, back, err)
			}
		}
	}
	if got := FormatEther(nil); got != "0" {
		t.Errorf("FormatEther(nil) = %q, want 0", got)
	}
}

func TestParseAddress(t *testing.T) {
	const want = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
	for _, in := range []string{want, strings.ToLower(want), "0x" + strings.ToUpper(want[2:]), " " + want + "\n"} {
		got, err := ParseAddress(in)
		if err != nil {
			t.Errorf("ParseAddress(%q): %v", in, err)
			continue
		}
		if got.Hex() != want {
			t.Errorf("ParseAddress(%q) = %s, want %s", in, got.Hex(), want)
		}
	}
	bad := []struct{ in, rule string }{
		{want[2:], "must start with 0x"},
		{want[:41], "39 hex digits"},
		{want + "00", "42 hex digits"},
		{"0xg39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "not hexadecimal"},
		{"0xF39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "EIP-55 checksum"},
		{"", "must start with 0x"},
	}
	for _, tt := range bad {
		_, err := ParseAddress(tt.in)
		if !errors.Is(err, ErrBadAddress) || !strings.Contains(err.Error(), tt.rule) {
			t.Errorf("ParseAddress(%q) error = %v, want ErrBadAddress and %q", tt.in, err, tt.rule)
		}
	}
}
