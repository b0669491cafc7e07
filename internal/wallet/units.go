package wallet

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/common"
)

// unitDecimals is the power of ten in wei of a unit ParseAmount accepts.
func unitDecimals(unit string) (int, bool) {
	switch unit {
	case "wei":
		return 0, true
	case "gwei":
		return 9, true
	case "ether", "eth":
		return 18, true
	}
	return 0, false
}

const amountHelp = "want a non-negative decimal number and an optional unit wei, gwei or ether (default ether), as in 1.5, 2gwei, 1000wei"

// ParseAmount parses an amount of ether into wei: a non-negative decimal
// number followed by an optional unit, "wei", "gwei" or "ether" ("eth"),
// case-insensitive, with or without a space between them. A number without
// a unit is in ether. "1.5" and "1.5ether" are 1.5 ether, "2gwei" is 2×10^9
// wei, "1000wei" is 1000 wei. An amount may have no more decimals than its
// unit has (none for wei), and must fit in 256 bits.
func ParseAmount(s string) (*big.Int, error) {
	in := strings.ToLower(strings.TrimSpace(s))
	num := strings.TrimRight(in, "abcdefghijklmnopqrstuvwxyz")
	unit := strings.TrimSpace(in[len(num):])
	num = strings.TrimSpace(num)
	if unit == "" {
		unit = "ether"
	}
	decimals, ok := unitDecimals(unit)
	if !ok {
		return nil, fmt.Errorf("%w %q: unknown unit %q, %s", ErrBadAmount, s, unit, amountHelp)
	}
	if strings.HasPrefix(num, "-") {
		return nil, fmt.Errorf("%w %q: must not be negative", ErrBadAmount, s)
	}
	whole, frac, _ := strings.Cut(num, ".")
	if whole == "" && frac == "" || !allDigits(whole) || !allDigits(frac) {
		return nil, fmt.Errorf("%w %q: %s", ErrBadAmount, s, amountHelp)
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > decimals {
		if decimals == 0 {
			return nil, fmt.Errorf("%w %q: wei amounts are whole numbers", ErrBadAmount, s)
		}
		return nil, fmt.Errorf("%w %q: %d decimals, but %s has %d", ErrBadAmount, s, len(frac), unit, decimals)
	}
	digits := whole + frac + strings.Repeat("0", decimals-len(frac))
	wei, ok := new(big.Int).SetString(digits, 10)
	if !ok {
		return nil, fmt.Errorf("%w %q: %s", ErrBadAmount, s, amountHelp)
	}
	if wei.BitLen() > 256 {
		return nil, fmt.Errorf("%w %q: above 2^256-1 wei, the largest amount a transaction can carry", ErrBadAmount, s)
	}
	return wei, nil
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// FormatUnits writes v / 10^decimals as an exact decimal without trailing
// zeros: FormatUnits(1500000000000000000, 18) is "1.5".
func FormatUnits(v *big.Int, decimals int) string {
	if v == nil {
		return "0"
	}
	digits := new(big.Int).Abs(v).String()
	sign := ""
	if v.Sign() < 0 {
		sign = "-"
	}
	if len(digits) <= decimals {
		digits = strings.Repeat("0", decimals-len(digits)+1) + digits
	}
	whole, frac := digits[:len(digits)-decimals], strings.TrimRight(digits[len(digits)-decimals:], "0")
	if frac == "" {
		return sign + whole
	}
	return sign + whole + "." + frac
}

// FormatEther writes an amount of wei in ether: "1.5" for 1.5×10^18 wei.
func FormatEther(wei *big.Int) string { return FormatUnits(wei, 18) }

// FormatGwei writes an amount of wei in gwei: "2.5" for 2.5×10^9 wei.
func FormatGwei(wei *big.Int) string { return FormatUnits(wei, 9) }

// ParseAddress parses a 0x-prefixed, 40-hex-digit address. An address in
// mixed case must carry a valid EIP-55 checksum (a typo then shows); an
// all-lowercase or all-uppercase one is taken as is.
func ParseAddress(s string) (common.Address, error) {
	in := strings.TrimSpace(s)
	if !strings.HasPrefix(in, "0x") && !strings.HasPrefix(in, "0X") {
		return common.Address{}, fmt.Errorf("%w %q: must start with 0x", ErrBadAddress, s)
	}
	hexPart := in[2:]
	if len(hexPart) != 2*common.AddressLength {
		return common.Address{}, fmt.Errorf("%w %q: %d hex digits after 0x, want %d", ErrBadAddress, s, len(hexPart), 2*common.AddressLength)
	}
	if !common.IsHexAddress(in) {
		return common.Address{}, fmt.Errorf("%w %q: not hexadecimal", ErrBadAddress, s)
	}
	addr := common.HexToAddress(in)
	if hexPart != strings.ToLower(hexPart) && hexPart != strings.ToUpper(hexPart) && addr.Hex()[2:] != hexPart {
		return common.Address{}, fmt.Errorf("%w %q: mixed case that fails the EIP-55 checksum (a typo?)", ErrBadAddress, s)
	}
	return addr, nil
}
