package store

import "testing"

// A message record made before save dates were kept (nothing after the
// prefix) decodes with none; one with a save date keeps it; bytes after
// the prefix that are no varint are corrupt.
func TestRecordSaveDate(t *testing.T) {
	old := msgRecord{Blob: 7, Date: 1e18, Size: 99, ModSeq: 3, Flags: []string{FlagSeen}, Prefix: []byte("Received: x\r\n")}
	b := old.encode()
	for _, noPrefix := range []bool{false, true} {
		r, err := decodeRecord(b, noPrefix)
		if err != nil || r.Saved != 0 || r.Blob != 7 || r.Size != 99 {
			t.Fatalf("old record: %+v, %v", r, err)
		}
		if m := r.message(1); !m.SaveDate.IsZero() {
			t.Fatalf("old record has save date %v", m.SaveDate)
		}
	}
	old.Saved = 1_700_000_000
	for _, noPrefix := range []bool{false, true} {
		r, err := decodeRecord(old.encode(), noPrefix)
		if err != nil || r.Saved != old.Saved || r.message(1).SaveDate.Unix() != old.Saved {
			t.Fatalf("record with a save date: %+v, %v", r, err)
		}
	}
	if _, err := decodeRecord(append(b, 0x80), false); err == nil {
		t.Fatal("a truncated varint after the prefix decoded")
	}
}
