// Package mta owns Petrel's SMTP front-end: port 25 for mail from other
// servers, and submission (587 with STARTTLS, 465 with implicit TLS) for
// users' own clients. It adds the Received header (RFC 5321 4.4), delivers
// local recipients into the store, hands every other recipient to the
// queue, and relays only for authenticated users: never an open relay.
//
// The contract with the client is the one of RFC 5321 4.1.1.4: "250" to
// DATA is said only after the store's commit (and the queue's) returned,
// that is, after the message is on disk.
package mta
