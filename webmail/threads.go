package webmail

import (
	"cmp"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"petrel/search"
	"petrel/store"

	"github.com/emersion/go-imap/v2"
)

// The conversation view threads the whole folder, as IMAP's THREAD
// REFERENCES does (package search's algorithm), not just a page: a reply
// arriving today joins the conversation of a message of last year. What
// threading needs of each message (Message-ID, References, base subject,
// date) is read once per folder, from the messages' top headers alone
// (store.ReadHeaders, search.Item.FillHeader: no structure decoded), and
// kept in a threadCache; a folder that
// changed (new UIDNEXT, fewer messages, new UIDVALIDITY) has only its new
// messages read, and its conversations recomputed, at its next view.

const (
	// threadCacheItems bounds the messages the cache knows, over all
	// folders (about 300 bytes each); the folder used longest ago goes
	// first.
	threadCacheItems = 250000
	// threadShown is how many messages of a conversation a list shows
	// (its newest first); the count says how many there are in all.
	threadShown = 5
)

// convo is one conversation of a folder: its messages' UIDs, newest first.
type convo struct{ uids []store.UID }

func (c convo) newest() store.UID { return c.uids[0] }

// folderThreads are the conversations of one folder as of a state of it.
type folderThreads struct {
	mu       sync.Mutex // held while (re)building
	validity uint32
	uidNext  store.UID
	count    uint32
	// items is never changed once made (an update makes a new one), so
	// that a search may read it without the lock.
	items  map[store.UID]*folderMsg
	convos []convo // by newest message, newest first
	// used, n (len(items) once built) and snap (items once built) are
	// guarded by the cache's mu.
	used uint64
	n    int
	snap map[store.UID]*folderMsg
}

// folderMsg is what the cache knows of a message: what threading needs,
// and the header fields a search by sender, recipient or subject matches
// (search.FieldValues of each of cachedFields).
type folderMsg struct {
	search.Item
	fields [len(cachedFields)]string
}

// cachedFields are the fields whose values the cache keeps.
var cachedFields = [...]string{"from", "to", "cc", "subject"}

// values puts fields in out, as search.Msg.Cached wants them.
func (fm *folderMsg) values(out map[string]string) map[string]string {
	for i, n := range cachedFields {
		out[n] = fm.fields[i]
	}
	return out
}

// fill reads what the cache knows of a message from its top header
// alone: the stored structure is not decoded.
func (fm *folderMsg) fill(hdr []byte) {
	fm.FillHeader(hdr, true)
	search.FieldValuesOf(hdr, cachedFields[:], fm.fields[:])
}

// threadCache holds the folders' conversations, bounded by
// threadCacheItems.
type threadCache struct {
	mu      sync.Mutex
	folders map[store.MailboxID]*folderThreads
	clock   uint64
	max     int
}

func newThreadCache(max int) *threadCache {
	return &threadCache{folders: make(map[store.MailboxID]*folderThreads), max: max}
}

// folder returns m's conversations, newest first, and what is known of
// its messages, reading what it lacks of the folder.
func (tc *threadCache) folder(st Store, m *store.Mailbox) ([]convo, map[store.UID]*folderMsg, error) {
	tc.mu.Lock()
	ft := tc.folders[m.ID]
	if ft == nil {
		ft = &folderThreads{}
		tc.folders[m.ID] = ft
	}
	tc.clock++
	ft.used = tc.clock
	tc.mu.Unlock()

	ft.mu.Lock()
	defer ft.mu.Unlock()
	if ft.items != nil && ft.validity == m.UIDValidity && ft.uidNext == m.UIDNext && ft.count == m.Messages {
		return ft.convos, ft.items, nil
	}
	if err := ft.update(st, m); err != nil {
		return nil, nil, err
	}
	tc.mu.Lock()
	ft.n, ft.snap = len(ft.items), ft.items
	tc.evict(m.ID)
	tc.mu.Unlock()
	return ft.convos, ft.items, nil
}

// known returns what the cache knows of folder id's messages, as of its
// last view (nil if none): newer messages are not in it, messages gone
// may be.
func (tc *threadCache) known(id store.MailboxID) map[store.UID]*folderMsg {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if ft := tc.folders[id]; ft != nil {
		return ft.snap
	}
	return nil
}

// evict drops the folders used longest ago (never keep) while the cache
// holds more than its bound. tc.mu is held.
func (tc *threadCache) evict(keep store.MailboxID) {
	for {
		total := 0
		var oldest store.MailboxID
		var oldestUse uint64
		for id, ft := range tc.folders {
			total += ft.n
			if id != keep && (oldestUse == 0 || ft.used < oldestUse) {
				oldest, oldestUse = id, ft.used
			}
		}
		if total <= tc.max || oldestUse == 0 {
			return
		}
		delete(tc.folders, oldest)
	}
}

// update reads the messages the folder has and ft lacks, forgets those it
// no longer has, and threads them all.
func (ft *folderThreads) update(st Store, m *store.Mailbox) error {
	if ft.validity != m.UIDValidity {
		ft.items = nil
	}
	var items map[store.UID]*folderMsg
	var missing []store.UID
	date := make(map[store.UID]store.Message)
	// Only new messages (none gone): the count says so, and only they
	// are read from the store.
	if ft.items != nil && m.Messages > ft.count {
		added, err := st.Page(m.ID, ft.uidNext-1, int(m.Messages-ft.count)+1, false)
		if err != nil {
			return err
		}
		if uint32(len(added)) == m.Messages-ft.count {
			items = maps.Clone(ft.items)
			for _, msg := range added {
				missing = append(missing, msg.UID)
				date[msg.UID] = msg
			}
		}
	}
	if items == nil {
		all, err := st.Page(m.ID, 0, int(m.Messages)+1000, true)
		if err != nil {
			return err
		}
		items = make(map[store.UID]*folderMsg, len(all))
		for _, msg := range all {
			if it := ft.items[msg.UID]; it != nil {
				items[msg.UID] = it
				continue
			}
			missing = append(missing, msg.UID)
			date[msg.UID] = msg
		}
	}
	slices.Reverse(missing) // ascending: the store reads in key order
	var buf []byte          // each header in turn: fill keeps no part of it
	for g := 0; g < len(missing); g += search.Group {
		group := missing[g:min(g+search.Group, len(missing))]
		err := st.ReadHeaders(m.ID, group, func(uid store.UID, c *store.Content, bodyStart int64) error {
			fm := &folderMsg{Item: search.Item{UID: uid, Seq: uint32(uid), Date: date[uid].InternalDate}}
			buf = slices.Grow(buf[:0], int(bodyStart))[:bodyStart]
			c.ReadAt(buf, 0)
			fm.fill(buf)
			items[uid] = fm
			return nil
		})
		if err != nil {
			return err
		}
	}
	list := make([]*search.Item, 0, len(items))
	for _, fm := range items {
		list = append(list, &fm.Item)
	}
	var convos []convo
	for _, t := range search.References(list) {
		var c convo
		t.Walk(func(it *search.Item) { c.uids = append(c.uids, it.UID) })
		slices.SortFunc(c.uids, func(a, b store.UID) int { return cmp.Compare(b, a) })
		convos = append(convos, c)
	}
	slices.SortFunc(convos, func(a, b convo) int { return cmp.Compare(b.newest(), a.newest()) })
	ft.validity, ft.uidNext, ft.count = m.UIDValidity, m.UIDNext, m.Messages
	ft.items, ft.convos = items, convos
	return nil
}

// conversationPage fills d with a page of m's conversations: those whose
// newest message is older than before (0: the newest ones), each shown as
// up to threadShown of its messages, until a page's rows are full.
func (s *Server) conversationPage(m *store.Mailbox, d *listData, q map[string][]string) error {
	convos, _, err := s.threads.folder(s.st, m)
	if err != nil {
		return err
	}
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	// first is the index of the page's first conversation.
	first := 0
	// convos is by newest message, descending: the predicates below
	// hold from some index on.
	if before, ok := parseUID(get("before")); ok {
		first = sort.Search(len(convos), func(i int) bool { return convos[i].newest() < before })
	} else if after, ok := parseUID(get("after")); ok {
		// The page before the one that starts after "after": walk back
		// from the first conversation not newer than that.
		first = sort.Search(len(convos), func(i int) bool { return convos[i].newest() <= after })
		for rows := 0; first > 0 && rows < pageSize; {
			first--
			rows += min(len(convos[first].uids), threadShown)
		}
	}
	var uids []store.UID
	var shown []convo
	last := first
	for rows := 0; last < len(convos) && rows < pageSize; last++ {
		c := convos[last]
		n := min(len(c.uids), threadShown)
		uids = append(uids, c.uids[:n]...)
		shown = append(shown, c)
		rows += n
	}
	base := mailboxURL(m.ID) + "?view=conversations"
	if last < len(convos) {
		d.Older = base + "&before=" + strconv.FormatUint(uint64(convos[last-1].newest()), 10)
	}
	if first > 0 {
		d.Newer = base + "&after=" + strconv.FormatUint(uint64(convos[first].newest()), 10)
	}
	msgs, err := s.st.Messages(m.ID, uids)
	if err != nil {
		return err
	}
	rows, err := s.rows(m.ID, msgs)
	if err != nil {
		return err
	}
	byUID := make(map[store.UID]row, len(rows))
	for _, r := range rows {
		byUID[r.UID] = r
	}
	for _, c := range shown {
		for k, uid := range c.uids[:min(len(c.uids), threadShown)] {
			r, ok := byUID[uid]
			if !ok {
				continue // expunged since the conversations were read
			}
			r.Reply = k > 0
			if k == 0 {
				r.InThread = len(c.uids)
			}
			d.Rows = append(d.Rows, r)
		}
	}
	return nil
}

// listConversations is listPage's view=conversations.
func (s *Server) listConversations(w http.ResponseWriter, r *http.Request, sess *session, m *store.Mailbox) {
	d := &listData{Mailbox: m, Conversations: true}
	if err := s.conversationPage(m, d, r.URL.Query()); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	s.showList(w, r, sess, m, d)
}

// cachedSearch is search.Options.Cached over the folder's cached fields
// (messages newer than them have their header read), or nil when the
// cache has not read the folder (a search does not make it: that would
// cost more than reading the headers once) or the criteria name a field
// the cache does not keep.
func (s *Server) cachedSearch(m *store.Mailbox, c *imap.SearchCriteria) func([]store.UID, func(store.UID, map[string]string)) error {
	ok := true
	search.AnyKey(c, func(c *imap.SearchCriteria) bool {
		for _, h := range c.Header {
			ok = ok && slices.Contains(cachedFields[:], strings.ToLower(h.Key))
		}
		return false // visit every key
	})
	if !ok {
		return nil
	}
	items := s.threads.known(m.ID)
	if items == nil {
		return nil
	}
	return func(uids []store.UID, fn func(store.UID, map[string]string)) error {
		var miss []store.UID
		for _, uid := range uids {
			if items[uid] == nil {
				miss = append(miss, uid)
			}
		}
		read := make(map[store.UID]map[string]string, len(miss))
		err := s.st.ReadHeaders(m.ID, miss, func(uid store.UID, c *store.Content, bodyStart int64) error {
			hdr := c.Slice(0, bodyStart)
			vals := make(map[string]string, len(cachedFields))
			for _, n := range cachedFields {
				vals[n] = search.FieldValues(hdr, n)
			}
			read[uid] = vals
			return nil
		})
		if err != nil {
			return err
		}
		vals := make(map[string]string, len(cachedFields)) // one for all: fn does not keep it
		for _, uid := range uids {
			if fm := items[uid]; fm != nil {
				fn(uid, fm.values(vals))
			} else if vals := read[uid]; vals != nil {
				fn(uid, vals)
			}
		}
		return nil
	}
}
