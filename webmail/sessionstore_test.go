package webmail

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"petrel/internal/pgtest"
	"petrel/store/pgstore"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var _ SessionStore = (*pgstore.Store)(nil)

// cookieRequest is a request carrying the session cookie of token.
func cookieRequest(token string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: cookieHTTP, Value: token})
	return r
}

// TestSessionsSharedAcrossNodes: with PostgreSQL as the SessionStore, a
// session made on node A is found on node B, its flash is shown once
// whichever node asks, a password change on A logs out the account's
// other sessions on B, logout on B ends it on A, an idle session ends,
// and the database holds a hash of each token, never the token.
func TestSessionsSharedAcrossNodes(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pg, err := pgstore.Open(ctx, dsn, pgstore.Options{Logger: log, CheapPasswordHash: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	acct, err := pg.CreateAccount(ctx, "alice@example.org", "secret-secret")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	clock := func() time.Time { return now }
	a := newSessions(time.Hour, 24*time.Hour, clock, pg, log)
	b := newSessions(time.Hour, 24*time.Hour, clock, pg, log)

	s1, err := a.create(ctx, acct.ID, acct.Address)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := a.create(ctx, acct.ID, acct.Address)
	if err != nil {
		t.Fatal(err)
	}
	got := b.get(cookieRequest(s1.id))
	if got == nil || got.acct != acct.ID || got.address != acct.Address || got.csrf != s1.csrf {
		t.Fatalf("node B: session %+v, want account %d with A's CSRF token", got, acct.ID)
	}
	if b.get(cookieRequest("not-a-session")) != nil {
		t.Fatal("node B accepted a made-up token")
	}
	var stored int
	if err := pg.Pool().QueryRow(ctx, "SELECT count(*) FROM web_sessions WHERE key = $1", s1.id).Scan(&stored); err != nil || stored != 0 {
		t.Fatalf("the token itself is in web_sessions (%d rows, %v)", stored, err)
	}

	s1.setFlash("Password changed.")
	if f := got.takeFlash(); f != "Password changed." {
		t.Fatalf("flash on B = %q", f)
	}
	if f := s1.takeFlash(); f != "" {
		t.Fatalf("flash shown twice: %q", f)
	}

	// A password change through A keeps s1 and ends s2 everywhere.
	a.removeAccount(acct.ID, s1.id)
	if b.get(cookieRequest(s2.id)) != nil {
		t.Fatal("node B still has the session a password change ended")
	}
	if b.get(cookieRequest(s1.id)) == nil {
		t.Fatal("the password change ended the session that made it")
	}
	// Logout through B.
	b.remove(s1.id)
	if a.get(cookieRequest(s1.id)) != nil {
		t.Fatal("node A still has the session logged out on B")
	}

	// Idle for longer than the limit: gone on both nodes.
	s3, err := b.create(ctx, acct.ID, acct.Address)
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Hour)
	if a.get(cookieRequest(s3.id)) != nil {
		t.Fatal("an idle session lived past the idle limit")
	}
	// A deleted account takes its sessions with it.
	s4, err := a.create(ctx, acct.ID, acct.Address)
	if err != nil {
		t.Fatal(err)
	}
	if err := pg.DeleteAccount(ctx, acct.Address); err != nil {
		t.Fatal(err)
	}
	if b.get(cookieRequest(s4.id)) != nil {
		t.Fatal("a session outlived its account")
	}
}
