package admin

// `petrel reindex`: parse every stored message again and store its MIME
// structure in the current form (store.Reindex), with progress on stderr.

import (
	"context"
	"fmt"
	"io"
)

func reindexCmd(ctx context.Context, env *Env, _ []string, _ string, out io.Writer) error {
	n, err := env.Store.Reindex(ctx, progressTo(out))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "reindexed %d messages\n", n)
	return nil
}
