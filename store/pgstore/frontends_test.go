package pgstore_test

import (
	"reflect"
	"slices"
	"testing"

	"petrel/junk"
	"petrel/store"
	"petrel/store/pgstore"
	"petrel/store/storetest"
	"petrel/webmail"
)

// The PostgreSQL store serves the front-ends' interfaces as the bbolt
// store does.
var (
	_ storetest.Backend = (*pgstore.Store)(nil)
	_ webmail.Store     = (*pgstore.Store)(nil)
	_ junk.Model        = (*pgstore.Store)(nil)
	_ junk.Trainer      = (*pgstore.Store)(nil)
	_ junk.StatsReader  = (*pgstore.Store)(nil)
)

// frontEndMethods are the exported methods of *store.Store that non-test
// code outside package store calls (directly, or through an interface it
// declares): computed with go/types over the module (issue 16), the
// packages that call each noted.
var frontEndMethods = []string{
	"AccountByAddress", "AccountByID", "Accounts", // cmd/petrel, mta, webmail
	"AddMembers", "CreateList", "DeleteList", "MailingList", "MailingLists", // cmd/petrel, mta
	"Members", "RecordBounce", "RemoveMembers", "UpdateList", "ListMember", // cmd/petrel, mta, web
	"Aliases", "AliasesOf", "SetAlias", "DeleteAlias", "ResolveAddress", // cmd/petrel, mta, webmail
	"Append", "AppendMany", // imap, webmail, mailio
	"Authenticate", "CreateAccount", "DeleteAccount", "SetPassword", // imap, mta, pop3, webmail, cmd/petrel
	"Close",
	"Copy", "Move", "Expunge", "ExpungeDeleted", "StoreFlags", "StoreFlagsIf", // imap, pop3, webmail
	"CreateMailbox", "CreateMailboxSubscribed", "DeleteMailbox", "RenameMailbox", // imap, mailio, webmail
	"SetSubscribed", "Subscriptions", "Mailboxes", "MailboxByName", "MailboxByID",
	"Deliver",                                // mta, the queue's local delivery
	"JunkLookup", "JunkTrusted", "JunkJudge", // junk.Model
	"JunkApplyPending", "JunkPending", // junk.StatsReader (nothing pending on PostgreSQL)
	"JunkModelSize", "JunkStatsOf", // junk.StatsReader
	"JunkTrainMany", "JunkTrain", "JunkTrust", // junk.Trainer, cmd/petrel, mta
	"List", "Messages", "MessagesInto", "Page", "Vanished", // imap, pop3, mailio, webmail
	"Metadata", "SetMetadata", // imap
	"ReadContent", "ReadContents", "ReadEnvelopes", "ReadHeaders", "ReadMessage", "ReadRaw", "ReadRange", "Structure",
	"Reindex",                                // cmd/petrel
	"Watch",                                  // imap, webmail
	"ChangedSince",                           // imap (CONDSTORE, QRESYNC)
	"Quota", "SetQuota", "AppendWithinQuota", // imap, mta, admin (QUOTA)
}

// bboltOnly are the methods of *store.Store that are the bbolt file's own:
// its path and backup (PostgreSQL is backed up with its own tools), and
// the dump/load pairs `store copy` reads and writes a bbolt store with
// (pgstore's CopyFrom and CopyTo do the same with SQL).
var bboltOnly = []string{"Path", "Backup", "BackupSized",
	"DumpAccounts", "DumpMessages", "LoadAccount", "LoadMailbox", "LoadMessages", "LastUID",
	"DumpVanished", "LoadVanished", "LoadList", "JunkModels", "DumpJunk", "LoadJunk", "DumpJunkMsgs", "LoadJunkMsgs",
	"VerifyUsage", // bbolt keeps usage in a record that VerifyUsage checks; PostgreSQL sums it when asked
	"Err"}         // the bbolt store's write-ahead log failed (readiness); PostgreSQL reports its own

// Every method of *store.Store the front-ends use is on *pgstore.Store
// with the same signature, and every method of *store.Store is either
// such a method or the bbolt file's own: a method added to the bbolt
// store fails this test until PostgreSQL has it too (or it is declared
// bbolt's own).
func TestFrontEndMethods(t *testing.T) {
	bolt := reflect.TypeFor[*store.Store]()
	pg := reflect.TypeFor[*pgstore.Store]()
	for i := range bolt.NumMethod() {
		name := bolt.Method(i).Name
		if !slices.Contains(frontEndMethods, name) && !slices.Contains(bboltOnly, name) {
			t.Errorf("(*store.Store).%s is neither a front-end method nor bbolt's own: implement it in pgstore and list it", name)
		}
	}
	for _, name := range frontEndMethods {
		bm, ok := bolt.MethodByName(name)
		if !ok {
			t.Errorf("(*store.Store).%s listed but gone", name)
			continue
		}
		pm, ok := pg.MethodByName(name)
		if !ok {
			t.Errorf("(*pgstore.Store).%s missing", name)
			continue
		}
		if !sameSignature(bm.Type, pm.Type) {
			t.Errorf("(*pgstore.Store).%s is %v, (*store.Store).%s is %v", name, pm.Type, name, bm.Type)
		}
	}
}

// sameSignature compares two method types without their receivers.
func sameSignature(a, b reflect.Type) bool {
	if a.NumIn() != b.NumIn() || a.NumOut() != b.NumOut() || a.IsVariadic() != b.IsVariadic() {
		return false
	}
	for i := 1; i < a.NumIn(); i++ {
		if a.In(i) != b.In(i) {
			return false
		}
	}
	for i := range a.NumOut() {
		if a.Out(i) != b.Out(i) {
			return false
		}
	}
	return true
}
