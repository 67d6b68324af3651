package admin

// The CLI's usage text, --help, and its flags.

import (
	"flag"
	"io"
	"strings"
)

// Usage is what `petrel help` prints: every command of the CLI.
const Usage = `petrel: a complete mail host in one binary

Usage:
  petrel serve [--config FILE] [--dev]     run the mail server
  petrel user add|passwd ADDRESS [--force] set a password (prompt or stdin): 8+ characters, not a common one
  petrel user del ADDRESS [--yes]          delete an account and its mail (asks on a terminal)
  petrel user list
  petrel user quota ADDRESS [SIZE|none] [--messages N|none]   show usage, set limits (SIZE: 500M, 2G…)
  petrel queue list|show ID|retry [ID]|delete ID|bounce ID
  petrel dkim keygen DOMAIN [--algo ed25519|rsa] [--selector NAME]
  petrel dns DOMAIN | petrel dns check DOMAIN
  petrel alias add ADDRESS|@DOMAIN TARGET… | alias del ADDRESS | alias list
  petrel list create LIST@DOMAIN [post=members|anyone|moderators] [moderators=A,B] [reply_to=sender|list] [archive=URL]
  petrel list add|del LIST MEMBER… | list members LIST | list show [LIST] | list set LIST key=value… | list drop LIST
  petrel backup FILE                       archive of data_dir (FILE.tar or .tar.gz), safe while running
  petrel restore FILE                      unpack a backup into an empty data_dir (server stopped)
  petrel import mbox|maildir ADDRESS PATH [--mailbox NAME]
  petrel export ADDRESS DIR
  petrel reindex                           parse every stored message again (after an upgrade)
  petrel junk train ADDRESS --spam|--ham MBOX|MAILDIR   teach an account's junk classifier
  petrel junk stats ADDRESS                what an account's junk classifier has learnt
  petrel store migrate                     bring the PostgreSQL store's schema to this version
  petrel store copy --to postgres://…      copy the bbolt store into PostgreSQL (server stopped; resumable)
  petrel store copy --to FILE.db           copy the PostgreSQL store (store.dsn) into a bbolt file
  petrel config default|env|check          print the default config, its PETREL_ variables, or check yours
  petrel health                            exit 0 if the running server answers /healthz
  petrel version

Every command takes --config FILE (or PETREL_CONFIG); without it, the embedded
default configuration is used (data in ./petrel-data), or the file named by
PETREL_CONFIG_OPTIONAL if it exists (the container image's /etc/petrel/petrel.toml).
`

// ParseArgs separates flags from positional arguments, wherever they stand
// (`petrel user add bob@example.com --config x.toml` works).
func ParseArgs(args []string) (Flags, []string, error) {
	var g Flags
	fs := flag.NewFlagSet("petrel", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&g.Config, "config", "", "configuration file")
	fs.BoolVar(&g.Dev, "dev", false, "high ports and a test account")
	fs.StringVar(&g.Mailbox, "mailbox", "", "mailbox to import into")
	fs.StringVar(&g.Algo, "algo", "ed25519", "DKIM key algorithm")
	fs.StringVar(&g.Selector, "selector", "", "DKIM selector")
	fs.BoolVar(&g.Help, "h", false, "print the usage")
	fs.BoolVar(&g.Force, "force", false, "user add|passwd: take a weak password")
	fs.BoolVar(&g.Yes, "yes", false, "user del: do not ask")
	fs.BoolVar(&g.Help, "help", false, "print the usage")
	fs.BoolVar(&g.Spam, "spam", false, "junk train: the messages are spam")
	fs.StringVar(&g.Messages, "messages", "", "user quota: message limit")
	fs.BoolVar(&g.Ham, "ham", false, "junk train: the messages are ham")
	fs.StringVar(&g.To, "to", "", "store copy's destination")
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return g, nil, Usagef("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			pos = append(pos, args[1:]...)
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	return g, pos, nil
}

// Help is what --help prints after args: the command's own usage
// line when args name one, else the usage lines of that command word,
// else the whole usage.
func Help(args []string) string {
	if len(args) == 0 {
		return Usage
	}
	if u, ok := CommandUsage(args); ok {
		return u + "\n"
	}
	var b strings.Builder
	for _, line := range strings.Split(Usage, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "petrel "+args[0]+" ") || strings.TrimSpace(line) == "petrel "+args[0] {
			b.WriteString(line + "\n")
		}
	}
	if b.Len() == 0 {
		return Usage
	}
	return "Usage:\n" + b.String()
}
