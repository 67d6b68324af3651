// Command petrel is the Petrel mail host: `petrel serve` runs SMTP,
// submission, IMAP, POP3 and the queue on one store; the other commands
// administer it, through the running server's control socket when there is
// one, or on the files directly when it is stopped.
//
// This file only dispatches; serve.go wires the server together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"petrel/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `petrel: a complete mail host in one binary

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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(os.Stderr, "petrel: %v\n(run `petrel help` for usage)\n", err)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "petrel: %v\n", err)
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// globalFlags are accepted by every command, anywhere on the line.
type globalFlags struct {
	config   string
	dev      bool
	mailbox  string
	algo     string
	selector string
	help     bool // -h, -help or --help anywhere before "--"
	force    bool // user add|passwd: take a password the rule refuses
	yes      bool // user del: delete without asking
	spam     bool
	ham      bool
	to       string // store copy's destination
	messages string // user quota: the message limit
}

// parseArgs separates flags from positional arguments, wherever they stand
// (`petrel user add bob@example.com --config x.toml` works).
func parseArgs(args []string) (globalFlags, []string, error) {
	var g globalFlags
	fs := flag.NewFlagSet("petrel", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&g.config, "config", "", "configuration file")
	fs.BoolVar(&g.dev, "dev", false, "high ports and a test account")
	fs.StringVar(&g.mailbox, "mailbox", "", "mailbox to import into")
	fs.StringVar(&g.algo, "algo", "ed25519", "DKIM key algorithm")
	fs.StringVar(&g.selector, "selector", "", "DKIM selector")
	fs.BoolVar(&g.help, "h", false, "print the usage")
	fs.BoolVar(&g.force, "force", false, "user add|passwd: take a weak password")
	fs.BoolVar(&g.yes, "yes", false, "user del: do not ask")
	fs.BoolVar(&g.help, "help", false, "print the usage")
	fs.BoolVar(&g.spam, "spam", false, "junk train: the messages are spam")
	fs.BoolVar(&g.ham, "ham", false, "junk train: the messages are ham")
	fs.StringVar(&g.to, "to", "", "store copy's destination")
	fs.StringVar(&g.messages, "messages", "", "user quota: message limit")
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return g, nil, usagef("%v", err)
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

// helpFor is what --help prints after args: the command's own usage
// line when args name one, else the usage lines of that command word,
// else the whole usage.
func helpFor(args []string) string {
	if len(args) == 0 {
		return usage
	}
	if _, o, _, err := lookupOp(args); err == nil {
		return "usage: petrel " + o.usage + "\n"
	}
	var b strings.Builder
	for _, line := range strings.Split(usage, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "petrel "+args[0]+" ") || strings.TrimSpace(line) == "petrel "+args[0] {
			b.WriteString(line + "\n")
		}
	}
	if b.Len() == 0 {
		return usage
	}
	return "Usage:\n" + b.String()
}

func run(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	g, args, err := parseArgs(argv)
	if err != nil {
		return err
	}
	if g.help {
		fmt.Fprint(stdout, helpFor(args))
		return nil
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usagef("no command given")
	}
	switch args[0] {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "version":
		fmt.Fprintf(stdout, "petrel %s\n", version)
		return nil
	}
	// --config, else PETREL_CONFIG, else PETREL_CONFIG_OPTIONAL if it exists.
	if g.config, err = config.Path(g.config, os.Getenv); err != nil {
		return err
	}
	switch args[0] {
	case "serve":
		if len(args) > 1 {
			return usagef("serve takes no arguments, got %q", strings.Join(args[1:], " "))
		}
		return serve(ctx, g, stdout, stderr)
	case "config":
		return configCmd(g, args[1:], stdout)
	case "health":
		return health(ctx, g, stdout)
	case "restore":
		return restore(ctx, g, args[1:], stdout)
	case "store":
		return storeCmd(ctx, g, args[1:], stdout, stderr)
	}
	return admin(ctx, g, args, stdin, stdout, stderr)
}
