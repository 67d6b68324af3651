package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"
)

func stats(ms []map[string]float64, k string) (med, lo, hi float64, ok bool) {
	var v []float64
	for _, m := range ms {
		if x, has := m[k]; has {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return 0, 0, 0, false
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		med = v[len(v)/2]
	} else {
		med = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return med, v[0], v[len(v)-1], true
}

func num(x float64) string {
	switch {
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	case x >= 10:
		return fmt.Sprintf("%.1f", x)
	default:
		return fmt.Sprintf("%.2f", x)
	}
}

// formatTable prints the results as a Markdown table: median [min–max] for
// Petrel and the peer, and the ratio of the medians.
func formatTable(results []*result, b *bench) string {
	var s strings.Builder
	host, _ := hostInfo()
	fmt.Fprintf(&s, "\n%s, %d CPUs (GOMAXPROCS %d), %s; %d rounds, alternating; median [min–max]\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), runtime.GOMAXPROCS(0), host, b.rounds)
	fmt.Fprintf(&s, "| scenario | N | metric | Petrel median [min–max] | peer | peer median [min–max] | Petrel/peer |\n")
	fmt.Fprintf(&s, "| --- | ---: | --- | --- | --- | --- | ---: |\n")
	for _, r := range results {
		for _, k := range r.metrics {
			pm, plo, phi, pok := stats(r.samples["petrel"], k)
			qm, qlo, qhi, qok := stats(r.samples["peer"], k)
			cell := func(m, lo, hi float64, ok bool) string {
				if !ok {
					return "–"
				}
				return fmt.Sprintf("%s [%s–%s]", num(m), num(lo), num(hi))
			}
			ratio := "–"
			if pok && qok && qm > 0 {
				ratio = fmt.Sprintf("%.2f", pm/qm)
			}
			fmt.Fprintf(&s, "| %s | %d | %s | %s | %s | %s | %s |\n", r.name, r.n, k, cell(pm, plo, phi, pok), r.peerName, cell(qm, qlo, qhi, qok), ratio)
		}
	}
	s.WriteString("\n")
	for _, r := range results {
		for _, n := range r.notes {
			s.WriteString("- " + n + "\n")
		}
	}
	if x := os.Getenv("POSTFIX_EXTRA"); x != "" {
		fmt.Fprintf(&s, "- NOT Postfix's defaults: POSTFIX_EXTRA=%q was added to main.cf.\n", x)
	}
	s.WriteString("- server CPU = utime+stime (+ reaped children) from /proc/PID/stat of every process in the server's process group or under it, read before the run and 1 s after its end; 10 ms ticks.\n")
	return s.String()
}

func hostInfo() (string, error) {
	b, err := readFirstLine("/proc/cpuinfo", "model name")
	return b, err
}
