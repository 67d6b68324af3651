package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"petrel/config"
	"petrel/control"
	"petrel/junk"
	"petrel/store"
)

// adminEnv is what admin operations act on: the running server's objects
// when called through the control socket, or ones opened for the command
// when the server is stopped.
type adminEnv struct {
	cfg   *config.Config
	store *store.Store
	log   *slog.Logger
	extra adminExtras // queue, DKIM, …: wired where they exist
}

// op is one admin command. password is what the CLI read from the user.
type op struct {
	needsPassword bool
	needsStore    bool
	needsQueue    bool
	minArgs       int
	maxArgs       int // that the CLI takes; 0 = no limit
	noArgs        bool
	usage         string
	run           func(ctx context.Context, env *adminEnv, args []string, password string, out io.Writer) error
}

var ops = map[string]op{
	"user add":    {needsPassword: true, needsStore: true, minArgs: 1, usage: "user add ADDRESS [--force]", run: userAdd},
	"user passwd": {needsPassword: true, needsStore: true, minArgs: 1, usage: "user passwd ADDRESS [--force]", run: userPasswd},
	"user del":    {needsStore: true, minArgs: 1, usage: "user del ADDRESS [--yes]", run: userDel},
	"user list":   {needsStore: true, usage: "user list", run: userList},
	"backup":      {needsStore: true, needsQueue: true, minArgs: 1, maxArgs: 1, usage: "backup FILE", run: backupCmd}, // backup.go
	// aliascmd.go
	"alias add":    {needsStore: true, minArgs: 2, usage: "alias add ADDRESS|@DOMAIN TARGET…", run: aliasAdd},
	"alias del":    {needsStore: true, minArgs: 1, usage: "alias del ADDRESS|@DOMAIN…", run: aliasDel},
	"alias list":   {needsStore: true, usage: "alias list", run: aliasList},
	"list create":  {needsStore: true, minArgs: 1, usage: "list create LIST@DOMAIN [post=members|anyone|moderators] [moderators=A,B] [reply_to=sender|list] [archive=URL]", run: listCreate},
	"list set":     {needsStore: true, minArgs: 2, usage: "list set LIST key=value…", run: listSet},
	"list show":    {needsStore: true, maxArgs: 1, usage: "list show [LIST]", run: listShow},
	"list drop":    {needsStore: true, minArgs: 1, maxArgs: 1, usage: "list drop LIST", run: listDrop},
	"list add":     {needsStore: true, minArgs: 2, usage: "list add LIST MEMBER…", run: listAdd},
	"list del":     {needsStore: true, minArgs: 2, usage: "list del LIST MEMBER…", run: listDel},
	"list members": {needsStore: true, minArgs: 1, maxArgs: 1, usage: "list members LIST", run: listMembers},
	// importcmd.go
	"import mbox":    {needsStore: true, minArgs: 2, maxArgs: 2, usage: "import mbox|maildir ADDRESS PATH [--mailbox NAME]", run: importCmd("mbox")},
	"import maildir": {needsStore: true, minArgs: 2, maxArgs: 2, usage: "import mbox|maildir ADDRESS PATH [--mailbox NAME]", run: importCmd("maildir")},
	"export":         {needsStore: true, minArgs: 2, maxArgs: 2, usage: "export ADDRESS DIR", run: exportCmd},
	"reindex":        {needsStore: true, noArgs: true, usage: "reindex", run: reindexCmd}, // reindexcmd.go
	// extras.go
	"queue list":   {needsQueue: true, usage: "queue list", run: queueList},
	"queue show":   {needsQueue: true, minArgs: 1, usage: "queue show ID", run: queueShow},
	"queue retry":  {needsQueue: true, usage: "queue retry [ID]", run: queueRetry},
	"queue delete": {needsQueue: true, minArgs: 1, usage: "queue delete ID", run: queueDelete},
	"queue bounce": {needsQueue: true, minArgs: 1, usage: "queue bounce ID", run: queueBounce},
	"dkim keygen":  {minArgs: 1, usage: "dkim keygen DOMAIN [--algo ed25519|rsa] [--selector NAME]", run: dkimKeygen},
	"dns check":    {minArgs: 1, usage: "dns check DOMAIN", run: dnsCheck},
	"dns":          {minArgs: 1, usage: "dns DOMAIN", run: dnsRecords},
	// junkcmd.go
	"junk train": {needsStore: true, minArgs: 2, maxArgs: 2, usage: "junk train ADDRESS --spam|--ham MBOX|MAILDIR", run: junkTrainCmd},
	"junk stats": {needsStore: true, minArgs: 1, maxArgs: 1, usage: "junk stats ADDRESS", run: junkStatsCmd},
}

// lookupOp finds the op named by the first one or two words of args.
func lookupOp(args []string) (string, op, []string, error) {
	if len(args) >= 2 {
		if o, ok := ops[args[0]+" "+args[1]]; ok {
			return args[0] + " " + args[1], o, args[2:], nil
		}
	}
	if o, ok := ops[args[0]]; ok {
		return args[0], o, args[1:], nil
	}
	var subs []string
	for name := range ops {
		if strings.HasPrefix(name, args[0]+" ") {
			subs = append(subs, strings.TrimPrefix(name, args[0]+" "))
		}
	}
	if len(subs) > 0 && len(args) == 1 {
		return "", op{}, nil, usagef("%s needs a subcommand: one of %s", args[0], strings.Join(slices.Sorted(slices.Values(subs)), ", "))
	}
	if len(subs) > 0 {
		return "", op{}, nil, usagef("%s: unknown subcommand %q (want one of: %s)", args[0], strings.Join(args[1:min(2, len(args))], ""), strings.Join(slices.Sorted(slices.Values(subs)), ", "))
	}
	return "", op{}, nil, usagef("unknown command %q", args[0])
}

// runOp runs an admin command against env (server side or offline).
func runOp(ctx context.Context, env *adminEnv, args []string, password string, out io.Writer) error {
	if len(args) == 0 {
		return usagef("no command")
	}
	_, o, rest, err := lookupOp(args)
	if err != nil {
		return err
	}
	if len(rest) < o.minArgs {
		return usagef("usage: petrel %s", o.usage)
	}
	return o.run(ctx, env, rest, password, out)
}

// admin is the CLI side of an admin command: read what must be read from
// the user, then run it through the server, or offline when none runs.
func admin(ctx context.Context, g globalFlags, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	name, o, rest, err := lookupOp(args)
	if err != nil {
		return err
	}
	if len(rest) < o.minArgs || o.maxArgs > 0 && len(rest) > o.maxArgs || o.noArgs && len(rest) > 0 {
		return usagef("usage: petrel %s", o.usage)
	}
	if g.mailbox != "" && !strings.HasPrefix(name, "import ") {
		return usagef("--mailbox is for petrel import (%s takes no --mailbox)", name)
	}
	if (g.spam || g.ham) && name != "junk train" {
		return usagef("--spam and --ham are for petrel junk train (%s takes neither)", name)
	}
	cfg, err := config.Load(g.config, os.Environ(), false)
	if err != nil {
		return err
	}
	if name == "dkim keygen" {
		args = []string{"dkim", "keygen", rest[0], g.algo, g.selector}
	}
	// The server reads and writes files in its own working directory:
	// make paths absolute first.
	switch name {
	case "backup":
		if abs, err := filepath.Abs(rest[0]); err == nil {
			args = []string{"backup", abs}
		}
	case "import mbox", "import maildir":
		abs, err := filepath.Abs(rest[1])
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := checkImportPath(args[1], abs); err != nil {
			return err
		}
		args = []string{"import", args[1], rest[0], abs, g.mailbox}
	case "junk train":
		if g.spam == g.ham {
			return usagef("junk train needs one of --spam or --ham: usage: petrel %s", o.usage)
		}
		abs, err := filepath.Abs(rest[1])
		if err != nil {
			return fmt.Errorf("junk train: %w", err)
		}
		class := "ham"
		if g.spam {
			class = "spam"
		}
		args = []string{"junk", "train", rest[0], class, abs}
	case "export":
		abs, err := filepath.Abs(rest[1])
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		args = []string{"export", rest[0], abs}
	}
	var password string
	if o.needsPassword {
		password, err = readPassword(stdin, stderr, rest[0])
		if err != nil {
			return err
		}
		if !g.force {
			if err := store.CheckPassword(rest[0], password); err != nil {
				return fmt.Errorf("%w (or add --force to set it anyway); nothing changed", err)
			}
		}
	}
	if name == "user del" && !g.yes {
		if _, err := store.NormalizeAddress(rest[0]); err != nil {
			return err
		}
		if err := confirmDelete(stdin, stderr, rest[0]); err != nil {
			return err
		}
	}
	// Import and export report progress, drawn on stderr.
	bar := newProgressBar(stderr, strings.Fields(name)[0])
	defer bar.end()
	out := progressOut{w: stdout, bar: bar}
	err = control.Call(ctx, cfg.DataDir, control.Request{Args: args, Password: password}, out)
	if !errors.Is(err, control.ErrNoServer) {
		return err
	}
	// No server: act on the files directly.
	env := &adminEnv{cfg: cfg, log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if o.needsStore || o.needsQueue {
		st, err := openStore(cfg, env.log)
		if err != nil {
			return err
		}
		defer st.Close()
		env.store = st
	}
	closeExtras, err := openExtrasOffline(cfg, env, o)
	if err != nil {
		return err
	}
	defer closeExtras()
	return runOp(ctx, env, args, password, out)
}

func openStore(cfg *config.Config, log *slog.Logger) (*store.Store, error) {
	if cfg.Store.Backend != "bbolt" {
		return nil, fmt.Errorf("store.backend = %q: this command runs on the bbolt store only in this version; set store.backend = \"bbolt\"", cfg.Store.Backend)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir %s: %w", cfg.DataDir, err)
	}
	st, err := store.Open(filepath.Join(cfg.DataDir, "mail.db"), store.Options{Logger: log, Timeout: 2 * time.Second, JunkTokens: junk.Tokens, JunkShared: cfg.Junk.SharedModel, JunkMaxTokens: cfg.Junk.MaxTokens})
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("%w: a petrel server is using %s but its control socket %s does not answer; stop it or check its permissions", err, cfg.DataDir, controlPath(cfg.DataDir))
	}
	return st, err
}

// readPassword reads a new password: from a prompt (twice) on a terminal,
// else the first line of stdin.
func readPassword(stdin io.Reader, stderr io.Writer, who string) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(stderr, "Password for %s: ", who)
		p1, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(stderr, "Again: ")
		p2, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(p1) != string(p2) {
			return "", errors.New("the passwords differ; nothing changed")
		}
		if len(p1) == 0 {
			return "", errors.New("empty password; nothing changed")
		}
		return string(p1), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		return "", errors.New("no password on standard input (give it as the first line, e.g. `echo pw | petrel user add …`)")
	}
	p := strings.TrimRight(line, "\r\n")
	if p == "" {
		return "", errors.New("empty password on standard input; nothing changed")
	}
	return p, nil
}

// confirmDelete asks on a terminal whether to delete address and all its
// mail; elsewhere (a script) the command must say --yes.
func confirmDelete(stdin io.Reader, stderr io.Writer, address string) error {
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return usagef("user del %s deletes the account and all its mail: add --yes to confirm (there is no terminal to ask on)", address)
	}
	fmt.Fprintf(stderr, "Delete %s and all its mail, for good? [y/N] ", address)
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && line == "" {
		return errors.New("no answer; nothing deleted")
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return errors.New("not confirmed; nothing deleted")
}

func userAdd(ctx context.Context, env *adminEnv, args []string, password string, out io.Writer) error {
	addr, err := store.NormalizeAddress(args[0])
	if err != nil {
		return err
	}
	if _, domain, _ := strings.Cut(addr, "@"); !env.cfg.IsLocalDomain(domain) {
		return fmt.Errorf("%s is not in a local domain (domains = %v); add %q to domains in the config first", addr, env.cfg.Domains, domain)
	}
	a, err := env.store.CreateAccount(ctx, addr, password)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "added %s\n", a.Address)
	return nil
}

func userPasswd(ctx context.Context, env *adminEnv, args []string, password string, out io.Writer) error {
	if err := env.store.SetPassword(ctx, args[0], password); err != nil {
		return err
	}
	fmt.Fprintf(out, "password changed for %s\n", strings.ToLower(args[0]))
	return nil
}

func userDel(ctx context.Context, env *adminEnv, args []string, _ string, out io.Writer) error {
	if err := env.store.DeleteAccount(ctx, args[0]); err != nil {
		return err
	}
	fmt.Fprintf(out, "deleted %s and all its mail\n", strings.ToLower(args[0]))
	return nil
}

func userList(ctx context.Context, env *adminEnv, _ []string, _ string, out io.Writer) error {
	accts, err := env.store.Accounts()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tMESSAGES\tSIZE\tCREATED")
	for _, a := range accts {
		var n uint32
		var size int64
		mbs, _ := env.store.Mailboxes(a.ID)
		for _, m := range mbs {
			n += m.Messages
			size += m.Size
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", a.Address, n, humanSize(size), a.Created.Format("2006-01-02"))
	}
	return tw.Flush()
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
