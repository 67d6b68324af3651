// Package admin owns Petrel's administration commands: the table of
// commands (user, alias, list, queue, dkim, dns, backup, import, export,
// reindex, junk) with their arguments and usage lines, each command's
// work on the store, queue and keys, and the CLI side that reads a
// password or a confirmation, shows progress and sends the command to the
// running server's control socket, or runs it on the files when the
// server is stopped. It also has the commands that never go through a
// server: config, health, restore and store.
//
// Invariants: a command does the same work and prints the same output
// whether it runs in the server (Run, behind the control socket) or in the
// CLI's own process; its output, usage lines and errors are a contract
// (scripts read them); a wrong argument is a *UsageError (exit 2), any
// other failure an error that says what to do.
package admin

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"

	"petrel/config"
	"petrel/msgauth"
	"petrel/queue"
	"petrel/store"
)

// Env is what admin commands act on: the running server's objects when
// called through the control socket, or ones opened for the command when
// the server is stopped.
type Env struct {
	Config   *config.Config
	Store    Store
	Bolt     *store.Store // the same store when it is bbolt (backup); nil on PostgreSQL
	Log      *slog.Logger
	Queue    Queue            // nil unless the command needs it
	DKIM     *msgauth.KeyRing // reloaded after dkim keygen; nil: no keys to show
	Resolver *net.Resolver    // for dns and dns check
}

// Queue is what the queue commands and backup use of the mail queue
// (*queue.Queue).
type Queue interface {
	List() ([]queue.Item, error)
	Show(id string) (*queue.Item, []byte, error)
	Retry(id string) error
	Delete(id string) error
	Bounce(id string) error
	BackupSized(ctx context.Context, begin func(size int64) (io.Writer, error)) (int64, error)
}

// DKIMDir is the folder of the DKIM keys in cfg's data_dir.
func DKIMDir(cfg *config.Config) string { return filepath.Join(cfg.DataDir, "dkim") }

// UsageError is a wrong command line: the CLI prints it with a pointer
// to `petrel help` and exits 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef makes a *UsageError.
func Usagef(format string, a ...any) error { return &UsageError{fmt.Sprintf(format, a...)} }

// op is one admin command. password is what the CLI read from the user.
type op struct {
	needsPassword bool
	needsStore    bool
	needsQueue    bool
	minArgs       int
	maxArgs       int // that the CLI takes; 0 = no limit
	noArgs        bool
	usage         string
	run           func(ctx context.Context, env *Env, args []string, password string, out io.Writer) error
}

var ops = map[string]op{
	"user add":    {needsPassword: true, needsStore: true, minArgs: 1, usage: "user add ADDRESS [--force]", run: userAdd},
	"user passwd": {needsPassword: true, needsStore: true, minArgs: 1, usage: "user passwd ADDRESS [--force]", run: userPasswd},
	"user del":    {needsStore: true, minArgs: 1, usage: "user del ADDRESS [--yes]", run: userDel},
	"user list":   {needsStore: true, usage: "user list", run: userList},
	"user quota":  {needsStore: true, minArgs: 1, maxArgs: 2, usage: "user quota ADDRESS [SIZE|none] [--messages N|none]", run: userQuota}, // quota.go
	"backup":      {needsStore: true, needsQueue: true, minArgs: 1, maxArgs: 1, usage: "backup FILE", run: backupCmd},                      // backup.go
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
		return "", op{}, nil, Usagef("%s needs a subcommand: one of %s", args[0], strings.Join(slices.Sorted(slices.Values(subs)), ", "))
	}
	if len(subs) > 0 {
		return "", op{}, nil, Usagef("%s: unknown subcommand %q (want one of: %s)", args[0], strings.Join(args[1:min(2, len(args))], ""), strings.Join(slices.Sorted(slices.Values(subs)), ", "))
	}
	return "", op{}, nil, Usagef("unknown command %q", args[0])
}

// Run runs the admin command args against env: in the server, for a
// request on the control socket, or in the CLI when no server runs.
func Run(ctx context.Context, env *Env, args []string, password string, out io.Writer) error {
	if len(args) == 0 {
		return Usagef("no command")
	}
	_, o, rest, err := lookupOp(args)
	if err != nil {
		return err
	}
	if len(rest) < o.minArgs {
		return Usagef("usage: petrel %s", o.usage)
	}
	return o.run(ctx, env, rest, password, out)
}

// CommandUsage is the usage line of the command args name ("usage: petrel
// queue show ID"), if they name one.
func CommandUsage(args []string) (string, bool) {
	if len(args) == 0 {
		return "", false
	}
	_, o, _, err := lookupOp(args)
	if err != nil {
		return "", false
	}
	return "usage: petrel " + o.usage, true
}
