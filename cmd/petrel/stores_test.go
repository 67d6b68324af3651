package main

import (
	"petrel/imap"
	"petrel/junk"
	"petrel/mailio"
	"petrel/mta"
	"petrel/pop3"
	"petrel/store"
	"petrel/store/pgstore"
	"petrel/webmail"
)

// The bbolt store serves every front-end.
var (
	_ mailStore     = (*store.Store)(nil)
	_ mta.Store     = (*store.Store)(nil)
	_ imap.Store    = (*store.Store)(nil)
	_ pop3.Store    = (*store.Store)(nil)
	_ webmail.Store = (*store.Store)(nil)
	_ mailio.Store  = (*store.Store)(nil)
	_ junk.Model    = (*store.Store)(nil)

	// So does PostgreSQL's, whose maildrop lock holds across nodes
	_ mailStore   = (*pgstore.Store)(nil)
	_ pop3.Locker = (*pgstore.Store)(nil)
	// and the web mail's sessions are shared.
	_ webmail.SessionStore = (*pgstore.Store)(nil)
)
