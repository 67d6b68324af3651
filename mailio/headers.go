package mailio

import (
	"petrel/msgtext"
	"strings"
)

// headerFields returns the values, each as one line of text
// (msgtext.Field.Text), of the named header fields (lower-case names) in
// the header of msg.
func headerFields(msg []byte, names ...string) map[string][]string {
	out := map[string][]string{}
	for f := range msgtext.Fields(msg) {
		for _, n := range names {
			if f.Is(n) {
				out[n] = append(out[n], f.Text())
			}
		}
	}
	return out
}

// mboxFlags reads the flags mutt, Thunderbird and Dovecot keep in mbox
// headers: Status (R = read), X-Status (A answered, F flagged, T draft,
// D deleted) and X-Keywords (Dovecot's keywords).
func mboxFlags(h map[string][]string) []string {
	var flags []string
	for _, v := range h["status"] {
		if strings.ContainsRune(v, 'R') {
			flags = append(flags, `\Seen`)
		}
	}
	for _, v := range h["x-status"] {
		for _, c := range v {
			switch c {
			case 'A':
				flags = append(flags, `\Answered`)
			case 'F':
				flags = append(flags, `\Flagged`)
			case 'T':
				flags = append(flags, `\Draft`)
			case 'D':
				flags = append(flags, `\Deleted`)
			}
		}
	}
	for _, v := range h["x-keywords"] {
		for _, k := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' }) {
			if validKeyword(k) {
				flags = append(flags, k)
			}
		}
	}
	return flags
}

// validKeyword reports whether k can be an IMAP keyword: an atom
// (RFC 3501 9, flag-keyword) of printable ASCII.
func validKeyword(k string) bool {
	if k == "" || len(k) > 100 || k[0] == '\\' {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// gmailPlacement is where Gmail Takeout's labels put a message.
type gmailPlacement struct {
	mailboxes []string
	flags     []string
	readKnown bool // Opened or Unread was present
}

// gmailLabels maps X-Gmail-Labels (comma-separated, quoted when a label
// holds a comma) to mailboxes and flags: Inbox, Sent, Drafts, Spam and Trash
// to Petrel's special mailboxes, Starred to \Flagged, Opened and Unread to
// \Seen or not, user labels to mailboxes of that name (nested with '/', as
// Gmail nests them), and Gmail's own categories dropped.
func gmailLabels(v string) gmailPlacement {
	var p gmailPlacement
	for _, l := range splitLabels(v) {
		switch strings.ToLower(l) {
		case "inbox":
			p.mailboxes = append(p.mailboxes, "INBOX")
		case "sent":
			p.mailboxes = append(p.mailboxes, "Sent")
		case "drafts", "draft":
			p.mailboxes = append(p.mailboxes, "Drafts")
			p.flags = append(p.flags, `\Draft`)
		case "spam":
			p.mailboxes = append(p.mailboxes, "Junk")
		case "trash":
			p.mailboxes = append(p.mailboxes, "Trash")
		case "starred":
			p.flags = append(p.flags, `\Flagged`)
		case "opened":
			p.flags = append(p.flags, `\Seen`)
			p.readKnown = true
		case "unread":
			p.readKnown = true
		case "important", "archived", "":
		default:
			if strings.HasPrefix(strings.ToLower(l), "category ") {
				continue
			}
			p.mailboxes = append(p.mailboxes, l)
		}
	}
	return p
}

func splitLabels(v string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range v {
		switch {
		case r == '"':
			quoted = !quoted
		case r == ',' && !quoted:
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	return append(out, strings.TrimSpace(cur.String()))
}
