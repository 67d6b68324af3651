// Package queue owns outbound mail: the persistent store-and-forward queue of
// messages accepted for remote recipients, the scheduler that delivers them
// over SMTP (or hands DSNs for local senders to a LocalDeliverer: in a
// server the MTA, made from the queue in Open by Options.NewLocal, so that
// the cycle queue → MTA → queue is closed in one call), retries on
// a backoff schedule, and the delivery status notifications (RFC 3464) sent
// back when a recipient fails or is delayed.
//
// Invariants, kept by every function in this package:
//
//   - The queue lives in its own bbolt file, or (Options.Shared) in the
//     database several nodes share, behind the same records interface
//     (records.go). Enqueue returns only after the message is committed
//     durably: then, and only then, may the MTA say 250.
//   - A message is deleted, or retired (Item.Finished: kept, never tried
//     again, for Options.KeepFinished, for the web mail's outbox; bbolt
//     keeps retired entries in a bucket of their own, a Shared queue as
//     rows without units, so neither Stats nor the scheduler sees them),
//     only in the transaction that records its last recipient as finished
//     (delivered or failed). Run removes retired entries when their time
//     is up. A DSN for failed
//     recipients is enqueued in that same transaction, so a crash loses
//     neither the message nor its bounce. A crash between the peer's 250
//     and our commit causes at most a duplicate delivery, never a loss.
//   - The unit of work is one message and one destination domain: all the
//     recipients of a message at one domain go in one SMTP transaction.
//   - One scheduler goroutine (Run) decides what runs when: it wakes on a
//     kick (new message, retry) or on a timer set at the earliest next
//     attempt, and starts a bounded number of deliveries (per domain and in
//     total). No goroutine sleeps waiting for a message's retry time. On a
//     Shared queue it claims due units from the database instead (and
//     looks every second, for other nodes' messages and dead nodes'
//     leases), delivering each under a lease renewed until the attempt is
//     recorded: per-domain limits hold across nodes; a node that dies
//     causes duplicates at most, never a loss.
//   - No network I/O happens inside a bbolt transaction; bytes read from
//     bbolt are copied before the transaction ends.
//   - The queue sends the message bytes as given: the MTA adds our Received
//     header before Enqueue.
//   - EnqueueEach commits many messages at once (a mailing list's copies
//     for its remote members, each with its own header); EnqueueDSN
//     reports, in the queue's DSN format, recipients the MTA refused after
//     accepting a message for others (a loop, a list's posting policy).
package queue
