package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// List is a mailing list: mail to its address goes to every member.
type List struct {
	Address string
	// Post says who may post: PostMembers (the default), PostAnyone or
	// PostModerators.
	Post string
	// Moderators may always post; under PostModerators, only they may.
	Moderators []string
	// ReplyTo is ReplyToSender (the default: the message's own Reply-To,
	// if any, stays) or ReplyToList (replies go to the list).
	ReplyTo string
	// Archive is the URL given in List-Archive; "" gives none.
	Archive string
	Created time.Time
}

// Posting and reply policies of a List.
const (
	PostMembers    = "members"
	PostAnyone     = "anyone"
	PostModerators = "moderators"
	ReplyToSender  = "sender"
	ReplyToList    = "list"
)

// Member is one subscriber of a list.
type Member struct {
	Address string
	Added   time.Time
	// Disabled members get no mail (they bounced on too many days); adding
	// them again enables them.
	Disabled bool
	// BounceDays are the days ("2006-01-02", UTC) on which their mail
	// bounced, since the last stretch of BounceStale without a bounce.
	BounceDays []string
}

// BounceStale is how long without a bounce makes a member's bounce days
// start again from zero.
const BounceStale = 7 * 24 * time.Hour

// Errors of mailing lists.
var (
	ErrNoList     = errors.New("no such mailing list")
	ErrListExists = errors.New("mailing list already exists")
	ErrNoMember   = errors.New("not a member of the list")
)

type listRecord struct {
	Address    string    `json:"address"`
	Post       string    `json:"post"`
	Moderators []string  `json:"moderators,omitempty"`
	ReplyTo    string    `json:"reply_to"`
	Archive    string    `json:"archive,omitempty"`
	Created    time.Time `json:"created"`
}

type memberRecord struct {
	Address    string    `json:"address"`
	Added      time.Time `json:"added"`
	Disabled   bool      `json:"disabled,omitempty"`
	BounceDays []string  `json:"bounce_days,omitempty"`
}

const bounceSuffix = "-bounces"

// BounceAddress is the envelope sender of a list's mail, where its bounces
// come back: announce@example.com has announce-bounces@example.com.
func BounceAddress(list string) string {
	local, domain, _ := strings.Cut(list, "@")
	return local + bounceSuffix + "@" + domain
}

// listOfBounceAddress is the list whose bounce address addr would be.
func listOfBounceAddress(addr string) (string, bool) {
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || !strings.HasSuffix(local, bounceSuffix) || len(local) == len(bounceSuffix) {
		return "", false
	}
	return strings.TrimSuffix(local, bounceSuffix) + "@" + domain, true
}

// normalizeList checks and fills in a list's settings.
func normalizeList(l *List) error {
	addr, err := NormalizeAddress(l.Address)
	if err != nil {
		return err
	}
	l.Address = addr
	switch l.Post {
	case "":
		l.Post = PostMembers
	case PostMembers, PostAnyone, PostModerators:
	default:
		return fmt.Errorf("list %s: post = %q: want %s, %s or %s", addr, l.Post, PostMembers, PostAnyone, PostModerators)
	}
	switch l.ReplyTo {
	case "":
		l.ReplyTo = ReplyToSender
	case ReplyToSender, ReplyToList:
	default:
		return fmt.Errorf("list %s: reply_to = %q: want %s or %s", addr, l.ReplyTo, ReplyToSender, ReplyToList)
	}
	var mods []string
	for _, m := range l.Moderators {
		n, err := NormalizeAddress(m)
		if err != nil {
			return fmt.Errorf("list %s: moderator %w", addr, err)
		}
		if !slices.Contains(mods, n) {
			mods = append(mods, n)
		}
	}
	l.Moderators = mods
	if l.Post == PostModerators && len(mods) == 0 {
		return fmt.Errorf("list %s: post = %s needs at least one moderator", addr, PostModerators)
	}
	if strings.ContainsAny(l.Archive, " <>\r\n\t") {
		return fmt.Errorf("list %s: archive %q is not a URL", addr, l.Archive)
	}
	return nil
}

// CreateList makes a mailing list with no members. Its address and its
// bounce address must not be an account's, an alias's or another list's.
func (s *Store) CreateList(ctx context.Context, l List) (*List, error) {
	if err := normalizeList(&l); err != nil {
		return nil, err
	}
	l.Created = nowFunc().UTC().Truncate(time.Second)
	err := s.update(ctx, func(t *tx) error {
		if _, ok := getListTx(t.Tx, l.Address); ok {
			return ErrListExists
		}
		for _, a := range []string{l.Address, BounceAddress(l.Address)} {
			if err := addressFreeTx(t.Tx, a, true); err != nil {
				return err
			}
		}
		return putListTx(t.Tx, l)
	})
	if err != nil {
		return nil, fmt.Errorf("create list %s: %w", l.Address, err)
	}
	return &l, nil
}

// UpdateList replaces the settings of an existing list (not its members).
func (s *Store) UpdateList(ctx context.Context, l List) error {
	if err := normalizeList(&l); err != nil {
		return err
	}
	err := s.update(ctx, func(t *tx) error {
		old, ok := getListTx(t.Tx, l.Address)
		if !ok {
			return ErrNoList
		}
		l.Created = old.Created
		return putListTx(t.Tx, l)
	})
	if err != nil {
		return fmt.Errorf("update list %s: %w", l.Address, err)
	}
	return nil
}

// DeleteList removes a list and its members.
func (s *Store) DeleteList(ctx context.Context, address string) error {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return err
	}
	err = s.update(ctx, func(t *tx) error {
		if _, ok := getListTx(t.Tx, addr); !ok {
			return ErrNoList
		}
		mb := t.Bucket(bMembers)
		prefix := memberPrefix(addr)
		var keys [][]byte
		c := mb.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			keys = append(keys, slices.Clone(k))
		}
		for _, k := range keys {
			if err := mb.Delete(k); err != nil {
				return err
			}
		}
		return t.Bucket(bLists).Delete([]byte(addr))
	})
	if err != nil {
		return fmt.Errorf("delete list %s: %w", addr, err)
	}
	return nil
}

// MailingList returns a list's settings; ErrNoList if there is none.
func (s *Store) MailingList(address string) (*List, error) {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return nil, ErrNoList
	}
	var l List
	var ok bool
	s.view(func(t *bolt.Tx) error {
		l, ok = getListTx(t, addr)
		return nil
	})
	if !ok {
		return nil, ErrNoList
	}
	return &l, nil
}

// MailingLists returns every list, ordered by address.
func (s *Store) MailingLists() ([]List, error) {
	var out []List
	err := s.view(func(t *bolt.Tx) error {
		return t.Bucket(bLists).ForEach(func(k, v []byte) error {
			var rec listRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("list %q: %w", k, err)
			}
			out = append(out, List(rec))
			return nil
		})
	})
	return out, err
}

// AddMembers subscribes addresses to a list, in one transaction. An
// address already a member stays as it is, unless it was disabled: then it
// is enabled again, with no bounce days. It returns the addresses added or
// enabled.
func (s *Store) AddMembers(ctx context.Context, list string, addrs []string) ([]string, error) {
	laddr, norm, err := normalizeMembers(list, addrs)
	if err != nil {
		return nil, err
	}
	var added []string
	err = s.update(ctx, func(t *tx) error {
		added = added[:0]
		if _, ok := getListTx(t.Tx, laddr); !ok {
			return ErrNoList
		}
		now := nowFunc().UTC().Truncate(time.Second)
		for _, a := range norm {
			rec, ok := getMemberTx(t.Tx, laddr, a)
			if ok && !rec.Disabled {
				continue
			}
			if !ok {
				rec = memberRecord{Address: a, Added: now}
			}
			rec.Disabled, rec.BounceDays = false, nil
			if err := putMemberTx(t.Tx, laddr, rec); err != nil {
				return err
			}
			added = append(added, a)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: add members: %w", laddr, err)
	}
	return added, nil
}

// RemoveMembers unsubscribes addresses from a list and returns those that
// were members.
func (s *Store) RemoveMembers(ctx context.Context, list string, addrs []string) ([]string, error) {
	laddr, norm, err := normalizeMembers(list, addrs)
	if err != nil {
		return nil, err
	}
	var removed []string
	err = s.update(ctx, func(t *tx) error {
		removed = removed[:0]
		if _, ok := getListTx(t.Tx, laddr); !ok {
			return ErrNoList
		}
		for _, a := range norm {
			k := memberKey(laddr, a)
			if t.Bucket(bMembers).Get(k) == nil {
				continue
			}
			if err := t.Bucket(bMembers).Delete(k); err != nil {
				return err
			}
			removed = append(removed, a)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: remove members: %w", laddr, err)
	}
	return removed, nil
}

// Members returns the members of a list, ordered by address.
func (s *Store) Members(list string) ([]Member, error) {
	laddr, err := NormalizeAddress(list)
	if err != nil {
		return nil, ErrNoList
	}
	var out []Member
	err = s.view(func(t *bolt.Tx) error {
		if _, ok := getListTx(t, laddr); !ok {
			return ErrNoList
		}
		prefix := memberPrefix(laddr)
		c := t.Bucket(bMembers).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var rec memberRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("member %q: %w", k, err)
			}
			out = append(out, Member(rec))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: members: %w", laddr, err)
	}
	return out, nil
}

// ListMember returns one member of a list; ErrNoMember if addr is not one.
func (s *Store) ListMember(list, addr string) (*Member, error) {
	laddr, norm, err := normalizeMembers(list, []string{addr})
	if err != nil {
		return nil, err
	}
	var m *Member
	err = s.view(func(t *bolt.Tx) error {
		if _, ok := getListTx(t, laddr); !ok {
			return ErrNoList
		}
		rec, ok := getMemberTx(t, laddr, norm[0])
		if !ok {
			return ErrNoMember
		}
		mm := Member(rec)
		m = &mm
		return nil
	})
	return m, err
}

// RecordBounce notes that the list's mail to member bounced at when: once
// a day counts, and BounceStale without a bounce starts the count again.
// On the days-th day the member is disabled, and RecordBounce returns true
// (once: the caller tells the member). A member no longer on the list is
// ErrNoMember.
func (s *Store) RecordBounce(ctx context.Context, list, member string, when time.Time, days int) (disabled bool, err error) {
	laddr, norm, err := normalizeMembers(list, []string{member})
	if err != nil {
		return false, err
	}
	err = s.update(ctx, func(t *tx) error {
		disabled = false
		rec, ok := getMemberTx(t.Tx, laddr, norm[0])
		if !ok {
			return ErrNoMember
		}
		bdays, changed, off := BounceDay(Member(rec), when, days)
		if !changed {
			return nil
		}
		rec.BounceDays = bdays
		if off {
			rec.Disabled, disabled = true, true
		}
		return putMemberTx(t.Tx, laddr, rec)
	})
	if err != nil {
		return false, fmt.Errorf("list %s: bounce of %s: %w", laddr, norm[0], err)
	}
	return disabled, nil
}

func normalizeMembers(list string, addrs []string) (string, []string, error) {
	laddr, err := NormalizeAddress(list)
	if err != nil {
		return "", nil, fmt.Errorf("list: %w", err)
	}
	var norm []string
	for _, a := range addrs {
		n, err := NormalizeAddress(a)
		if err != nil {
			return "", nil, fmt.Errorf("list %s: member %w", laddr, err)
		}
		if !slices.Contains(norm, n) {
			norm = append(norm, n)
		}
	}
	return laddr, norm, nil
}

func memberPrefix(list string) []byte { return append([]byte(list), 0) }

func memberKey(list, member string) []byte { return append(memberPrefix(list), member...) }

func getListTx(t *bolt.Tx, addr string) (List, bool) {
	var rec listRecord
	v := t.Bucket(bLists).Get([]byte(addr))
	if v == nil || json.Unmarshal(v, &rec) != nil {
		return List{}, false
	}
	return List(rec), true
}

func putListTx(t *bolt.Tx, l List) error {
	b, _ := json.Marshal(listRecord(l))
	return t.Bucket(bLists).Put([]byte(l.Address), b)
}

func getMemberTx(t *bolt.Tx, list, member string) (memberRecord, bool) {
	var rec memberRecord
	v := t.Bucket(bMembers).Get(memberKey(list, member))
	if v == nil || json.Unmarshal(v, &rec) != nil {
		return rec, false
	}
	return rec, true
}

func putMemberTx(t *bolt.Tx, list string, rec memberRecord) error {
	b, _ := json.Marshal(rec)
	return t.Bucket(bMembers).Put(memberKey(list, rec.Address), b)
}
