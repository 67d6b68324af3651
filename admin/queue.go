package admin

// The queue commands: list, show, retry, delete, bounce.

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

func queueList(ctx context.Context, env *Env, _ []string, _ string, out io.Writer) error {
	all, err := env.Queue.List()
	if err != nil {
		return err
	}
	items := all[:0]
	for _, it := range all {
		if it.Finished.IsZero() { // retired entries are no longer queued
			items = append(items, it)
		}
	}
	if len(items) == 0 {
		fmt.Fprintln(out, "the queue is empty")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tFROM\tRECIPIENTS\tAGE\tATTEMPTS\tNEXT TRY\tLAST ERROR")
	now := time.Now()
	for _, it := range items {
		var pending []string
		for _, r := range it.Rcpts {
			if r.State == "pending" || r.State == "" {
				pending = append(pending, r.Addr)
			}
		}
		next := "-"
		if t := it.NextAttempt(); !t.IsZero() {
			next = "in " + roundDur(t.Sub(now))
			if t.Before(now) {
				next = "now"
			}
		}
		from := it.From
		if from == "" {
			from = "<>"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", it.ID, from, strings.Join(pending, ","), roundDur(now.Sub(it.Arrived)), it.Attempts, next, oneLine(it.LastErr, 60))
	}
	return tw.Flush()
}

func queueShow(ctx context.Context, env *Env, args []string, _ string, out io.Writer) error {
	it, msg, err := env.Queue.Show(args[0])
	if err != nil {
		return fmt.Errorf("queue show %s: %w", args[0], err)
	}
	fmt.Fprintf(out, "ID:       %s\nFrom:     <%s>\nArrived:  %s (%s ago)\nSize:     %d\nAttempts: %d\n", it.ID, it.From, it.Arrived.Format(time.RFC3339), roundDur(time.Since(it.Arrived)), it.Size, it.Attempts)
	if !it.Finished.IsZero() {
		fmt.Fprintf(out, "Finished: %s (kept for the outbox, not retried)\n", it.Finished.Format(time.RFC3339))
	}
	for _, r := range it.Rcpts {
		fmt.Fprintf(out, "Rcpt:     <%s> %s", r.Addr, r.State)
		if !r.NextAttempt.IsZero() {
			fmt.Fprintf(out, ", next try %s", r.NextAttempt.Format(time.RFC3339))
		}
		if r.LastReply != "" {
			fmt.Fprintf(out, ", last: %s", oneLine(r.LastReply, 200))
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintln(out, "--- header")
	if i := strings.Index(string(msg), "\r\n\r\n"); i >= 0 {
		msg = msg[:i]
	}
	fmt.Fprintln(out, strings.ReplaceAll(string(msg), "\r\n", "\n"))
	return nil
}

func queueRetry(ctx context.Context, env *Env, args []string, _ string, out io.Writer) error {
	id := ""
	if len(args) > 0 {
		id = args[0]
	}
	if err := env.Queue.Retry(id); err != nil {
		return fmt.Errorf("queue retry: %w", err)
	}
	if id == "" {
		fmt.Fprintln(out, "every queued message will be tried now")
	} else {
		fmt.Fprintf(out, "%s will be tried now\n", id)
	}
	return nil
}

func queueDelete(ctx context.Context, env *Env, args []string, _ string, out io.Writer) error {
	if err := env.Queue.Delete(args[0]); err != nil {
		return fmt.Errorf("queue delete %s: %w", args[0], err)
	}
	fmt.Fprintf(out, "deleted %s without telling the sender\n", args[0])
	return nil
}

func queueBounce(ctx context.Context, env *Env, args []string, _ string, out io.Writer) error {
	if err := env.Queue.Bounce(args[0]); err != nil {
		return fmt.Errorf("queue bounce %s: %w", args[0], err)
	}
	fmt.Fprintf(out, "bounced %s: the sender gets a failure notice\n", args[0])
	return nil
}

func roundDur(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return d.Round(time.Minute).String()
	}
	return d.Round(time.Hour).String()
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n-1] + "…"
	}
	return s
}
