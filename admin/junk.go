package admin

// `petrel junk train` and `petrel junk stats`: thin entries to package
// junk, through the running server or on the stopped store.

import (
	"context"
	"fmt"
	"io"

	"petrel/junk"
	"petrel/store"
)

// junkTrainCmd runs `junk train ADDRESS spam|ham PATH`: the CLI has turned
// --spam or --ham into the class and made PATH absolute.
func junkTrainCmd(ctx context.Context, env *Env, args []string, _ string, out io.Writer) error {
	if len(args) != 3 || args[1] != "spam" && args[1] != "ham" {
		return Usagef("usage: petrel junk train ADDRESS --spam|--ham MBOX|MAILDIR")
	}
	acct, err := findAccount(env.Store, args[0])
	if err != nil {
		return fmt.Errorf("junk train: %w", err)
	}
	class := store.JunkHam
	if args[1] == "spam" {
		class = store.JunkSpam
	}
	res, err := junk.TrainPath(ctx, env.Store, acct.ID, args[2], class, nil)
	if err != nil {
		return fmt.Errorf("%w (%d messages trained before it)", err, res.Trained)
	}
	fmt.Fprintf(out, "trained %s on %d %s messages (%d read; the others were trained so already)\n", acct.Address, res.Trained, args[1], res.Messages)
	st, err := junk.ModelStats(ctx, env.Store, acct.ID, env.Config.Junk.MinTrained)
	if err != nil {
		return err
	}
	st.Write(out, acct.Address)
	return nil
}

func junkStatsCmd(ctx context.Context, env *Env, args []string, _ string, out io.Writer) error {
	acct, err := findAccount(env.Store, args[0])
	if err != nil {
		return fmt.Errorf("junk stats: %w", err)
	}
	st, err := junk.ModelStats(ctx, env.Store, acct.ID, env.Config.Junk.MinTrained)
	if err != nil {
		return err
	}
	st.Write(out, acct.Address)
	return nil
}
