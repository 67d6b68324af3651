package admin

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"petrel/config"
)

func (c *CLI) config(args []string) error {
	g, out := c.Flags, c.Stdout
	if len(args) != 1 {
		return Usagef("usage: petrel config default|env|check")
	}
	switch args[0] {
	case "default":
		io.WriteString(out, config.Default())
		return nil
	case "env":
		for _, v := range append(config.EnvVars(), config.FileEnvVars()...) {
			fmt.Fprintf(out, "%-40s %s\n", v[0], v[1])
		}
		return nil
	case "check":
		cfg, err := config.Load(g.Config, os.Environ(), g.Dev)
		if err != nil {
			return err
		}
		src := "the embedded default"
		if g.Config != "" {
			src = g.Config
		}
		fmt.Fprintf(out, "%s is valid: hostname %s, domains %s, data_dir %s\n", src, cfg.Hostname, strings.Join(cfg.Domains, ","), cfg.DataDir)
		return nil
	}
	return Usagef("config: unknown subcommand %q (want default, env or check)", args[0])
}

// health asks the running server's HTTP listener for /healthz (the Docker
// HEALTHCHECK).
func (c *CLI) health(ctx context.Context) error {
	g, out := c.Flags, c.Stdout
	cfg, err := config.Load(g.Config, os.Environ(), g.Dev)
	if err != nil {
		return err
	}
	if cfg.Listen.HTTP == "" {
		return fmt.Errorf("health: listen.http is off; turn it on to use `petrel health`")
	}
	_, port, _ := net.SplitHostPort(cfg.Listen.HTTP)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+net.JoinHostPort("127.0.0.1", port)+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("health: /healthz answered %s", resp.Status)
	}
	fmt.Fprintln(out, "ok")
	return nil
}
