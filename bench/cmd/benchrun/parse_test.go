package main

import (
	"sync/atomic"
	"testing"
)

func TestCounterParsesSmtpSink(t *testing.T) {
	var n atomic.Int64
	c := &counter{n: &n}
	c.Write([]byte("sess=1 quit=0 mesg=1\rsess=2 quit=1 mes"))
	if n.Load() != 1 {
		t.Fatalf("count %d, want 1", n.Load())
	}
	c.Write([]byte("g=2\rsess=2 quit=2 mesg=3\r"))
	if n.Load() != 3 {
		t.Fatalf("count %d, want 3", n.Load())
	}
}

func TestStats(t *testing.T) {
	ms := []map[string]float64{{"x": 3}, {"x": 1}, {"x": 2}, {"y": 9}}
	med, lo, hi, ok := stats(ms, "x")
	if !ok || med != 2 || lo != 1 || hi != 3 {
		t.Fatalf("stats = %v %v %v %v", med, lo, hi, ok)
	}
	if _, _, _, ok := stats(ms, "z"); ok {
		t.Fatal("stats of a missing metric ok")
	}
}
