package pop3_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"
)

// BenchmarkRetrAll retrieves every message of a maildrop of 4 KiB
// messages over one session, pipelining nothing (as poplib and fetchmail
// do): log in, STAT, RETR 1…n, QUIT. POP3_BENCH_MESSAGES sets the maildrop
// size (default 2,000; the note's figure uses 10,000).
func BenchmarkRetrAll(b *testing.B) {
	n := 2000
	if s := os.Getenv("POP3_BENCH_MESSAGES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	e := newEnv(b)
	msgs := make([][]byte, n)
	var size int64
	for i := range msgs {
		msgs[i] = fourKiB(i)
		size += int64(len(msgs[i]))
	}
	e.deliverAll(b, msgs)
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		c := e.login(b)
		c.expect("STAT", fmt.Sprintf("+OK %d ", n))
		for i := 1; i <= n; i++ {
			c.send("RETR " + strconv.Itoa(i))
			c.line()
			c.discardBody()
		}
		c.expect("QUIT", "+OK")
		c.conn.Close()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
