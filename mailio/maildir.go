package mailio

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"petrel/store"
)

// Maildir flag letters (https://cr.yp.to/proto/maildir.html, "info
// semantics"), in the ASCII order a file name must list them in. Keywords
// are the lower-case letters a–z, numbered in dovecot-keywords.
var maildirFlags = []struct {
	letter byte
	flag   string
}{
	{'D', store.FlagDraft},
	{'F', store.FlagFlagged},
	{'P', "$Forwarded"}, // "passed" (resent/forwarded); RFC 5788 keyword
	{'R', store.FlagAnswered},
	{'S', store.FlagSeen},
	{'T', store.FlagDeleted}, // "trashed"
}

// splitInfo splits a Maildir file name into its unique base and the flag
// letters of its ":2," info. Besides ':', mbsync and some Windows tools use
// ';' or '!' as the info separator.
func splitInfo(name string) (base, letters string) {
	for _, sep := range []string{":2,", ";2,", "!2,"} {
		if i := strings.LastIndex(name, sep); i >= 0 {
			return name[:i], name[i+len(sep):]
		}
	}
	return name, ""
}

// flagsFromInfo turns info letters into flags, looking keyword letters up
// in keywords (from dovecot-keywords).
func flagsFromInfo(letters string, keywords map[byte]string) []string {
	var out []string
	for i := 0; i < len(letters); i++ {
		c := letters[i]
		if c >= 'a' && c <= 'z' {
			if k, ok := keywords[c]; ok {
				out = append(out, k)
			}
			continue
		}
		for _, f := range maildirFlags {
			if f.letter == c {
				out = append(out, f.flag)
			}
		}
	}
	return out
}

// parseKeywords reads a dovecot-keywords file: lines "N keyword", N from 0
// to 25 naming the letters a to z.
func parseKeywords(b []byte) map[byte]string {
	out := map[byte]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		num, kw, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		n, err := strconv.Atoi(num)
		kw = strings.TrimSpace(kw)
		if !ok || err != nil || n < 0 || n > 25 || !validKeyword(kw) {
			continue
		}
		out[byte('a'+n)] = kw
	}
	return out
}

// parseUIDList reads a dovecot-uidlist file: a header line, then
// "UID [extensions] :BASENAME" (version 3) or "UID BASENAME" (version 1),
// and returns the UID of each base name.
func parseUIDList(b []byte) map[string]uint32 {
	out := map[string]uint32{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	first := true
	for sc.Scan() {
		line := sc.Text()
		if first {
			first = false
			continue // header: version, UIDVALIDITY, next UID
		}
		num, rest, ok := strings.Cut(line, " ")
		uid, err := strconv.ParseUint(num, 10, 32)
		if !ok || err != nil || uid == 0 {
			continue
		}
		var base string
		if i := strings.Index(rest, ":"); i >= 0 && (i == 0 || rest[i-1] == ' ') {
			base = rest[i+1:]
		} else {
			base, _, _ = strings.Cut(rest, " ")
		}
		if base != "" {
			base, _ = splitInfo(base)
			out[base] = uint32(uid)
		}
	}
	return out
}

// maildirFile is one message file of a maildir.
type maildirFile struct {
	path    string
	base    string
	letters string
	uid     uint32 // from dovecot-uidlist; 0 if not listed
}

// listMaildir returns the messages of the maildir at dir (new/ and cur/),
// in Dovecot's UID order where dovecot-uidlist gives one, then by the
// delivery time at the start of the name.
func listMaildir(dir string) ([]maildirFile, map[byte]string, error) {
	keywords := map[byte]string{}
	if b, err := os.ReadFile(filepath.Join(dir, "dovecot-keywords")); err == nil {
		keywords = parseKeywords(b)
	}
	uids := map[string]uint32{}
	if b, err := os.ReadFile(filepath.Join(dir, "dovecot-uidlist")); err == nil {
		uids = parseUIDList(b)
	}
	var files []maildirFile
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("maildir %s: %w", dir, err)
		}
		for _, e := range entries {
			if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			f := maildirFile{path: filepath.Join(dir, sub, e.Name())}
			f.base, f.letters = splitInfo(e.Name())
			if sub == "new" {
				f.letters = "" // new/ is unseen mail, whatever the name says
			}
			f.uid = uids[f.base]
			if f.uid == 0 {
				// Some writers list the name without its ",S=…" fields.
				short, _, _ := strings.Cut(f.base, ",")
				f.uid = uids[short]
			}
			files = append(files, f)
		}
	}
	slices.SortFunc(files, func(a, b maildirFile) int {
		switch {
		case a.uid != 0 && b.uid != 0:
			return int(a.uid) - int(b.uid)
		case a.uid != 0:
			return -1
		case b.uid != 0:
			return 1
		}
		if c := deliveryTime(a.base) - deliveryTime(b.base); c != 0 {
			if c < 0 {
				return -1
			}
			return 1
		}
		return strings.Compare(a.base, b.base)
	})
	return files, keywords, nil
}

// deliveryTime is the seconds at the start of a Maildir base name
// ("1700000000.M1P2.host"), or 0.
func deliveryTime(base string) int64 {
	num, _, _ := strings.Cut(base, ".")
	n, _ := strconv.ParseInt(num, 10, 64)
	return n
}

// maildirFolder is one folder found under an import root.
type maildirFolder struct {
	dir  string
	name string // mailbox name, '/' separated; "" for the root
}

// findFolders lists the maildirs under root: root itself, Maildir++
// folders (".Sent", ".Work.2024", as Dovecot keeps them) and
// directory-per-folder layouts (Sent/cur, Work/2024/cur, as mbsync's
// SubFolders Verbatim and Dovecot's LAYOUT=fs keep them).
func findFolders(root string) ([]maildirFolder, error) {
	var out []maildirFolder
	var walk func(dir, name string, depth int) error
	walk = func(dir, name string, depth int) error {
		if isMaildir(dir) {
			out = append(out, maildirFolder{dir: dir, name: name})
		}
		if depth > 20 {
			return nil
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("maildir %s: %w", dir, err)
		}
		for _, e := range entries {
			n := e.Name()
			if !e.IsDir() || n == "cur" || n == "new" || n == "tmp" || n == "." || n == ".." {
				continue
			}
			var child string
			switch {
			case strings.HasPrefix(n, ".") && name == "":
				// Maildir++: the whole hierarchy is flat under the root.
				parts := strings.Split(n[1:], ".")
				for i, p := range parts {
					parts[i] = unescapeFolder(p)
				}
				child = strings.Join(parts, "/")
				if isMaildir(filepath.Join(dir, n)) {
					out = append(out, maildirFolder{dir: filepath.Join(dir, n), name: child})
				}
				continue
			case strings.HasPrefix(n, "."):
				continue
			case name == "":
				child = n
			default:
				child = name + "/" + n
			}
			if err := walk(filepath.Join(dir, n), child, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root, "", 0); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b maildirFolder) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

func isMaildir(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, "cur"))
	return err == nil && st.IsDir()
}

// Folder names in Maildir++ cannot hold '.', the separator, nor '/'.
// Dovecot's listescape plugin writes them as \2e and \2f, and '\' as \5c;
// export does the same and import undoes it.
func escapeFolder(name string) string {
	r := strings.NewReplacer(`\`, `\5c`, ".", `\2e`, "/", `\2f`)
	return r.Replace(name)
}

func unescapeFolder(name string) string {
	if !strings.Contains(name, `\`) {
		return name
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		if name[i] == '\\' && i+2 < len(name) {
			if v, err := strconv.ParseUint(name[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(name[i])
	}
	return b.String()
}
