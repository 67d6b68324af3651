package dnsmx

import (
	"errors"
	"fmt"
)

// Kind says why a lookup failed.
type Kind int

const (
	// KindNXDomain: the name does not exist (permanent).
	KindNXDomain Kind = iota + 1
	// KindNullMX: the domain publishes "MX 0 ." (RFC 7505), it accepts no mail (permanent).
	KindNullMX
	// KindNoAddress: no MX host has an A or AAAA record (permanent).
	KindNoAddress
	// KindCNAMELoop: a CNAME chain is too long or loops (permanent).
	KindCNAMELoop
	// KindServFail: the resolver answered SERVFAIL, REFUSED or another error code (temporary).
	KindServFail
	// KindNetwork: no answer in time, or the resolver could not be reached (temporary).
	KindNetwork
)

func (k Kind) String() string {
	switch k {
	case KindNXDomain:
		return "no such domain"
	case KindNullMX:
		return "domain accepts no mail (null MX)"
	case KindNoAddress:
		return "no address for any mail server"
	case KindCNAMELoop:
		return "CNAME chain too long"
	case KindServFail:
		return "DNS server failure"
	case KindNetwork:
		return "DNS timeout or network error"
	}
	return "unknown DNS error"
}

// Error is the error of every failed lookup.
type Error struct {
	Name string // the name asked about
	Kind Kind
	Err  error // the underlying error, if any
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("dns %s: %s: %v", e.Name, e.Kind, e.Err)
	}
	return fmt.Sprintf("dns %s: %s", e.Name, e.Kind)
}

func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether the same lookup may succeed later.
func (e *Error) Temporary() bool { return e.Kind == KindServFail || e.Kind == KindNetwork }

// IsTemporary reports whether err is a temporary lookup failure.
func IsTemporary(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Temporary()
}
