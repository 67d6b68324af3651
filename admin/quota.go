package admin

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// userQuota is `petrel user quota ADDRESS [SIZE] [--messages N]`: set an
// account's storage limit (SIZE) and message limit (N), "0" or "none"
// removing one, and print its usage and limits. args are ADDRESS, SIZE
// and N as given, "" for one not given (admin passes them so through
// the control socket).
func userQuota(ctx context.Context, env *Env, args []string, _ string, out io.Writer) error {
	acct, err := env.Store.AccountByAddress(args[0])
	if err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	q, err := env.Store.Quota(acct.ID)
	if err != nil {
		return err
	}
	size, msgs := "", ""
	if len(args) > 1 {
		size = args[1]
	}
	if len(args) > 2 {
		msgs = args[2]
	}
	if size != "" || msgs != "" {
		storage, messages := q.StorageLimit, q.MessageLimit
		if size != "" {
			if storage, err = parseQuotaSize(size); err != nil {
				return err
			}
		}
		if msgs != "" {
			if messages, err = parseQuotaCount(msgs); err != nil {
				return err
			}
		}
		if err := env.Store.SetQuota(ctx, acct.Address, storage, messages); err != nil {
			return err
		}
		if q, err = env.Store.Quota(acct.ID); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "%s: storage %s of %s, messages %d of %s\n", acct.Address,
		humanSize(q.Storage), limitString(q.StorageLimit, humanSize), q.Messages,
		limitString(q.MessageLimit, func(n int64) string { return strconv.FormatInt(n, 10) }))
	return nil
}

func limitString(n int64, format func(int64) string) string {
	if n == 0 {
		return "no limit"
	}
	return format(n)
}

// parseQuotaSize reads a storage limit: a number of bytes with an
// optional K, M, G or T (powers of 1024, as Dovecot's quota rules), "0"
// or "none" for no limit.
func parseQuotaSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	if t == "NONE" {
		return 0, nil
	}
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:len(t)-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, Usagef("quota size %q: want a number of bytes with an optional K, M, G or T (1024-based), e.g. 500M or 2G; 0 or none for no limit", s)
	}
	return n * mult, nil
}

// parseQuotaCount reads a message limit: a number, "0" or "none" for no
// limit.
func parseQuotaCount(s string) (int64, error) {
	if strings.EqualFold(strings.TrimSpace(s), "none") {
		return 0, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return 0, Usagef("--messages %q: want a number of messages; 0 or none for no limit", s)
	}
	return n, nil
}
