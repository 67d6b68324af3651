package admin

// The CLI side of an admin command: the flags it takes, the password and
// confirmation read from the user, the paths made absolute, then the
// command sent to the running server's control socket, or run on the
// files directly when no server runs.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"petrel/config"
	"petrel/control"
	"petrel/msgauth"
	"petrel/store"
)

// Flags are the flags every command accepts, anywhere on the line
// (cmd/petrel parses them).
type Flags struct {
	Config   string
	Dev      bool
	Mailbox  string
	Algo     string
	Selector string
	Help     bool // -h, -help or --help anywhere before "--"
	Force    bool // user add|passwd: take a password the rule refuses
	Yes      bool // user del: delete without asking
	Spam     bool
	Ham      bool
	To       string // store copy's destination
	Messages string // user quota: the message limit
}

// CLI runs admin commands for the petrel command line.
type CLI struct {
	Flags  Flags
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// OpenQueue opens the queue for a command that needs it while the
	// server is stopped; nil: as serve opens it (OpenQueue), not run.
	OpenQueue func(cfg *config.Config, st Store, log *slog.Logger) (Queue, func(), error)
}

// Run runs the command args for the CLI. config, health, restore and
// store act directly; the commands of the table read what must be read
// from the user, then run through the server, or offline when none runs.
func (c *CLI) Run(ctx context.Context, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "config":
			return c.config(args[1:])
		case "health":
			return c.health(ctx)
		case "restore":
			return c.restore(ctx, args[1:])
		case "store":
			return c.store(ctx, args[1:])
		}
	}
	g, stdin, stdout, stderr := c.Flags, c.Stdin, c.Stdout, c.Stderr
	name, o, rest, err := lookupOp(args)
	if err != nil {
		return err
	}
	if len(rest) < o.minArgs || o.maxArgs > 0 && len(rest) > o.maxArgs || o.noArgs && len(rest) > 0 {
		return Usagef("usage: petrel %s", o.usage)
	}
	if g.Mailbox != "" && !strings.HasPrefix(name, "import ") {
		return Usagef("--mailbox is for petrel import (%s takes no --mailbox)", name)
	}
	if g.Messages != "" && name != "user quota" {
		return Usagef("--messages is for petrel user quota (%s takes no --messages)", name)
	}
	if (g.Spam || g.Ham) && name != "junk train" {
		return Usagef("--spam and --ham are for petrel junk train (%s takes neither)", name)
	}
	cfg, err := config.Load(g.Config, os.Environ(), false)
	if err != nil {
		return err
	}
	if name == "dkim keygen" {
		args = []string{"dkim", "keygen", rest[0], g.Algo, g.Selector}
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
		args = []string{"import", args[1], rest[0], abs, g.Mailbox}
	case "junk train":
		if g.Spam == g.Ham {
			return Usagef("junk train needs one of --spam or --ham: usage: petrel %s", o.usage)
		}
		abs, err := filepath.Abs(rest[1])
		if err != nil {
			return fmt.Errorf("junk train: %w", err)
		}
		class := "ham"
		if g.Spam {
			class = "spam"
		}
		args = []string{"junk", "train", rest[0], class, abs}
	case "user quota":
		size := ""
		if len(rest) > 1 {
			size = rest[1]
		}
		args = []string{"user", "quota", rest[0], size, g.Messages}
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
		if !g.Force {
			if err := store.CheckPassword(rest[0], password); err != nil {
				return fmt.Errorf("%w (or add --force to set it anyway); nothing changed", err)
			}
		}
	}
	if name == "user del" && !g.Yes {
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
	env, closeEnv, err := c.openOffline(cfg, o)
	if err != nil {
		return err
	}
	defer closeEnv()
	return Run(ctx, env, args, password, out)
}

// openOffline opens, for a command run with the server stopped, what it
// needs: the store, the queue, the DKIM keys and a resolver.
func (c *CLI) openOffline(cfg *config.Config, o op) (*Env, func(), error) {
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	env := &Env{Config: cfg, Log: slog.New(slog.NewTextHandler(c.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Resolver: msgauth.NewNetResolver(cfg.DNS.Resolver)}
	if o.needsStore || o.needsQueue {
		st, bolt, err := OpenStore(context.Background(), cfg, StoreOptions{Logger: env.Log, Timeout: 2 * time.Second})
		if errors.Is(err, store.ErrLocked) {
			return nil, nil, fmt.Errorf("%w: a petrel server is using %s but its control socket %s does not answer; stop it or check its permissions", err, cfg.DataDir, control.Path(cfg.DataDir))
		}
		if err != nil {
			return nil, nil, err
		}
		closers = append(closers, func() { st.Close() })
		env.Store, env.Bolt = st, bolt
	}
	var err error
	if env.DKIM, err = msgauth.OpenKeyRing(DKIMDir(cfg)); err != nil {
		closeAll()
		return nil, nil, err
	}
	if o.needsQueue {
		open := c.OpenQueue
		if open == nil {
			open = openQueueOffline
		}
		q, closeQueue, err := open(cfg, env.Store, env.Log)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		closers = append(closers, closeQueue)
		env.Queue = q
	}
	return env, closeAll, nil
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
		return Usagef("user del %s deletes the account and all its mail: add --yes to confirm (there is no terminal to ask on)", address)
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
