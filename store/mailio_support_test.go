package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"petrel/store"
	"petrel/store/storetest"
)

func TestAppendMany(t *testing.T) {
	s := storetest.Open(t)
	acct := storetest.Account(t, s, "bulk@example.com")
	inbox := storetest.Inbox(t, s, acct)
	date := time.Date(2020, 2, 3, 4, 5, 6, 0, time.UTC)
	items := []store.AppendItem{
		{Body: []byte("Subject: one\r\n\r\n1\r\n"), Flags: []string{`\seen`, "$Label1"}, Date: date},
		{Body: []byte("Subject: two\r\n\r\n2\r\n")},
		{Body: []byte("Subject: three\r\n\r\n3\r\n"), Flags: []string{`\Flagged`}, Date: date.Add(time.Hour)},
	}
	var events []store.Event
	_, stop, err := s.Watch(inbox.ID, func(ev store.Event) { events = append(events, ev) })
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.AppendMany(context.Background(), inbox.ID, items)
	stop()
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 || out[0].UID != 1 || out[2].UID != 3 {
		t.Fatalf("delivered %+v", out)
	}
	msgs, err := s.List(inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 {
		t.Fatalf("%d messages", len(msgs))
	}
	if !slices.Equal(msgs[0].Flags, []string{"$Label1", `\Seen`}) || !msgs[0].InternalDate.Equal(date) {
		t.Errorf("first: flags %v date %v", msgs[0].Flags, msgs[0].InternalDate)
	}
	if !msgs[2].Has(`\Flagged`) || msgs[1].InternalDate.IsZero() {
		t.Errorf("third %+v second %+v", msgs[2], msgs[1])
	}
	for i, m := range msgs {
		b, err := s.ReadMessage(inbox.ID, m.UID)
		if err != nil || string(b) != string(items[i].Body) {
			t.Errorf("message %d: %q %v", i, b, err)
		}
	}
	mb, _ := s.MailboxByID(inbox.ID)
	if mb.Messages != 3 || mb.Unseen != 2 || mb.UIDNext != 4 {
		t.Errorf("mailbox counts %+v", mb)
	}
	if len(events) == 0 {
		t.Errorf("no change events published")
	}
}

func TestAppendManyNoMailbox(t *testing.T) {
	s := storetest.Open(t)
	_, err := s.AppendMany(context.Background(), 999, []store.AppendItem{{Body: []byte("x\r\n")}})
	if !errors.Is(err, store.ErrNoMailbox) {
		t.Errorf("err = %v, want ErrNoMailbox", err)
	}
}
