package main

import (
	"context"
	"io"
)

// queueAdmin is what `petrel queue …` needs of the queue.
type queueAdmin interface {
	adminQueueList(ctx context.Context, out io.Writer) error
}

// openExtrasOffline opens, for an admin command run with the server
// stopped, the subsystems beyond the store that the command may need.
func openExtrasOffline(cfg any, env *adminEnv) (func(), error) {
	return func() {}, nil
}
