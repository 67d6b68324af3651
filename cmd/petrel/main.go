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
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"petrel/admin"
	"petrel/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		var ue *admin.UsageError
		if errors.As(err, &ue) {
			fmt.Fprintf(os.Stderr, "petrel: %v\n(run `petrel help` for usage)\n", err)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "petrel: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	g, args, err := admin.ParseArgs(argv)
	if err != nil {
		return err
	}
	if g.Help {
		fmt.Fprint(stdout, admin.Help(args))
		return nil
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, admin.Usage)
		return admin.Usagef("no command given")
	}
	switch args[0] {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, admin.Usage)
		return nil
	case "version":
		fmt.Fprintf(stdout, "petrel %s\n", version)
		return nil
	}
	// --config, else PETREL_CONFIG, else PETREL_CONFIG_OPTIONAL if it exists.
	if g.Config, err = config.Path(g.Config, os.Getenv); err != nil {
		return err
	}
	if args[0] == "serve" {
		if len(args) > 1 {
			return admin.Usagef("serve takes no arguments, got %q", strings.Join(args[1:], " "))
		}
		return serve(ctx, g, stdout, stderr)
	}
	cli := &admin.CLI{Flags: g, Stdin: stdin, Stdout: stdout, Stderr: stderr}
	return cli.Run(ctx, args)
}
