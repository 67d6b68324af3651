package msgauth_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"petrel/msgauth"
)

// This is how the SMTP server uses a Verifier at the end of DATA on port
// 25: refuse, file in Junk, or deliver the stamped message.
func ExampleVerifier_Verify() {
	v := msgauth.NewVerifier(msgauth.Options{
		Hostname: "mx.example.org",
		Resolver: msgauth.NewNetResolver(""), // or the configured dns.resolver
		Policy:   msgauth.DefaultPolicy(),
	})
	msg := []byte("From: a@b.invalid\r\nSubject: hi\r\n\r\nhello\r\n")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	verdict, err := v.Verify(ctx, msgauth.Input{
		RemoteIP: net.ParseIP("192.0.2.1"), Helo: "mail.b.invalid", MailFrom: "a@b.invalid", Message: msg,
	})
	if err != nil {
		return // reply 451 4.7.0 and drop the message
	}
	switch verdict.Action {
	case msgauth.Reject:
		fmt.Println("550 5.7.1", verdict.Reason)
	case msgauth.Quarantine:
		_ = verdict.Stamp(msg) // deliver to Junk
	default:
		_ = verdict.Stamp(msg) // deliver to INBOX
	}
}

func ExampleDefaultSelector() {
	t := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	fmt.Println(msgauth.DefaultSelector(t, "rsa"))
	fmt.Println(msgauth.DefaultSelector(t, "ed25519"))
	// Output:
	// petrel202611-rsa
	// petrel202611-ed25519
}
