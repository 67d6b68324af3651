package msgauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"petrel/msgtext"

	"github.com/emersion/go-msgauth/dkim"
)

// maxDKIMSignatures bounds the signatures verified per message; each costs a
// key lookup and a public-key operation. Later ones are ignored (RFC 6376
// section 6.1 lets a verifier limit the number it checks).
const maxDKIMSignatures = 5

// DKIMOutcome is the result of verifying one DKIM-Signature field.
type DKIMOutcome struct {
	// Result is pass, fail (the signature or body hash does not verify),
	// permerror (malformed signature, no or bad key) or temperror.
	Result string
	// Domain is the signing domain (d=), normalized if valid.
	Domain string
	// Identifier is the agent or user identifier (i=).
	Identifier string
	// Err explains a result other than pass, for logs.
	Err error
}

// verifyDKIM checks every DKIM signature of msg (up to maxDKIMSignatures).
// No signature gives an empty slice: the header then says dkim=none.
func verifyDKIM(ctx context.Context, r Resolver, msg []byte) []DKIMOutcome {
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{
		LookupTXT:        func(name string) ([]string, error) { return r.LookupTXT(ctx, name) },
		MaxVerifications: maxDKIMSignatures,
	})
	if err != nil && len(verifs) == 0 {
		if !hasDKIMSignature(msg) {
			return nil
		}
		return []DKIMOutcome{{Result: "permerror", Err: fmt.Errorf("reading message: %w", err)}}
	}
	out := make([]DKIMOutcome, 0, len(verifs))
	for _, v := range verifs {
		o := DKIMOutcome{Result: "pass", Identifier: v.Identifier, Err: v.Err}
		if d, ok := normalizeDomain(v.Domain); ok {
			o.Domain = d
		}
		switch {
		case v.Err == nil && o.Domain == "":
			o.Result, o.Err = "permerror", errors.New("invalid signing domain")
		case v.Err == nil:
		case dkim.IsTempFail(v.Err):
			o.Result = "temperror"
		case dkim.IsPermFail(v.Err):
			o.Result = "permerror"
		default:
			o.Result = "fail"
		}
		out = append(out, o)
	}
	return out
}

// hasDKIMSignature reports whether the header section of msg has a field
// that looks like a DKIM-Signature, to tell "unreadable signed message"
// (permerror) from "unreadable unsigned message" (none).
func hasDKIMSignature(msg []byte) bool {
	return bytes.Contains(bytes.ToLower(msgtext.HeaderSection(msg)), []byte("dkim-signature:"))
}
