package admin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"

	"petrel/config"
	"petrel/store"
)

// DevAccount makes, on the first start with --dev, a test account with a
// random password, and prints both.
func DevAccount(ctx context.Context, st interface {
	Accounts() ([]store.Account, error)
	CreateAccount(ctx context.Context, address, password string) (*store.Account, error)
}, cfg *config.Config, out io.Writer) error {
	accts, err := st.Accounts()
	if err != nil {
		return err
	}
	addr := "test@" + cfg.Domains[0]
	if len(accts) > 0 {
		// The password was printed once, on the first start.
		for _, a := range accts {
			if a.Address == addr {
				fmt.Fprintf(out, "petrel --dev: the test account %s was made on the first start; to give it a new password: petrel user passwd %s\n", addr, addr)
			}
		}
		return nil
	}
	b := make([]byte, 12)
	rand.Read(b)
	pw := base64.RawURLEncoding.EncodeToString(b)
	if _, err := st.CreateAccount(ctx, addr, pw); err != nil {
		return fmt.Errorf("dev account: %w", err)
	}
	fmt.Fprintf(out, "petrel --dev: created test account %s with password %s\n", addr, pw)
	fmt.Fprintf(out, "  SMTP localhost:2525, submission 5870, IMAP 1430, POP3 1100 (STARTTLS), IMAPS 9930, POP3S 9950, submissions 4650\n")
	return nil
}
