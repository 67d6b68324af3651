// Command benchrun is the harness behind bench/run.sh: it starts Petrel and
// the Debian peer (Postfix, Dovecot) on the same machine, each on its own
// loopback address, runs each scenario against both, alternating, for
// several rounds, and prints a table of median, min and max for each and
// the ratio Petrel/peer, with server CPU per message read from /proc.
//
//	benchrun [-rounds 3] [-n 5000] [scenario…]
//
// Scenarios: outbound pop3 smtp-accept ceiling imap imap-concurrency imap-steady
// memory (default: all).
//
// Everything it starts runs in its own process group and is stopped on
// exit, on SIGINT/SIGTERM and after -max-time. It must run as root
// (Postfix and Dovecot drop privileges themselves).
package main

import (
	"cmp"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// The loopback addresses of the run.
const (
	ipPetrel = "127.0.0.2"
	ipPeer   = "127.0.0.3"
	ipDNS    = "127.0.0.4"
	// sinks: 127.0.1.1 … 127.0.1.20
)

type bench struct {
	work                         string
	rounds                       int
	n                            map[string]int
	runTimeout                   time.Duration
	petrelBin, injectBin, dnsBin string
	postfixMaster, dovecotBin    string
	smtpSource, smtpSink, python string
	poplibScript                 string
	dnsAddr                      string
	logw                         io.Writer

	// IMAP scenarios
	imapBin, outDir                     string
	imapClients, imapAccounts, imapIdle int
	imapDuration                        time.Duration
	steadyClients                       int          // imap-steady's clients
	steadyClient                        string       // imap-steady's client: raw or imapclient
	imaplibScript                       string       // imap-steady's probe
	accounts                            *imapFixture // made once, for imap-concurrency and memory
}

func (b *bench) logf(format string, a ...any) {
	fmt.Fprintf(b.logw, time.Now().Format("15:04:05 ")+format+"\n", a...)
}

var (
	cleanup  func()
	stopping atomic.Bool // set on a signal or at -max-time
)

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "benchrun: "+format+"\n", a...)
	if cleanup != nil {
		cleanup()
	}
	os.Exit(1)
}

var allScenarios = []string{"outbound", "pop3", "smtp-accept", "ceiling", "imap", "imap-concurrency", "imap-steady", "memory"}

// imapDefaults are the sizes of the IMAP scenarios, which N does not set:
// messages in the mailbox (N_IMAP, N_IMAP_CONCURRENCY; memory uses
// imap-concurrency's accounts).
var imapDefaults = map[string]int{"imap": 10000, "imap-concurrency": 1000, "imap-steady": 300, "memory": 1000}

func main() {
	rounds := flag.Int("rounds", envInt("ROUNDS", 3), "rounds per scenario (env ROUNDS)")
	n := flag.Int("n", envInt("N", 5000), "messages per run, all scenarios (env N; per scenario: N_OUTBOUND, N_POP3, N_SMTP_ACCEPT, N_CEILING)")
	out := flag.String("out", "bench/out", "directory of the built binaries and of results")
	runTimeout := flag.Duration("run-timeout", envDur("RUN_TIMEOUT", 10*time.Minute), "limit of one measured run (env RUN_TIMEOUT)")
	maxTime := flag.Duration("max-time", envDur("MAX_TIME", 2*time.Hour), "limit of the whole benchmark (env MAX_TIME)")
	keep := flag.Bool("keep", os.Getenv("KEEP") != "", "keep the work directory (env KEEP=1)")
	flag.Parse()
	if *rounds < 1 || *rounds > 50 || *n < 1 || *n > 1000000 {
		log.Fatal("benchrun: rounds must be 1…50 and n 1…1000000")
	}
	scen := flag.Args()
	if len(scen) == 0 {
		scen = allScenarios
	}
	for _, s := range scen {
		if !contains(allScenarios, s) {
			log.Fatalf("benchrun: unknown scenario %q (have %s)", s, strings.Join(allScenarios, ", "))
		}
	}
	if os.Geteuid() != 0 {
		log.Fatal("benchrun: run as root: Postfix and Dovecot need it to start")
	}
	outDir, _ := filepath.Abs(*out)
	work, err := os.MkdirTemp("", "petrel-bench-")
	if err != nil {
		log.Fatal(err)
	}
	os.Chmod(work, 0o755) // Postfix's and Dovecot's unprivileged processes walk it
	logFile, _ := os.Create(filepath.Join(outDir, "last-run.log"))
	b := &bench{
		work: work, rounds: *rounds, runTimeout: *runTimeout,
		n:         map[string]int{},
		petrelBin: filepath.Join(outDir, "petrel"),
		injectBin: filepath.Join(outDir, "benchinject"),
		dnsBin:    filepath.Join(outDir, "benchdns"),
		logw:      io.MultiWriter(os.Stderr, logFile),
	}
	for _, s := range allScenarios {
		def, ok := imapDefaults[s]
		if !ok {
			def = *n
		}
		b.n[s] = envInt("N_"+strings.ToUpper(strings.ReplaceAll(s, "-", "_")), def)
	}
	b.imapBin = filepath.Join(outDir, "benchimap")
	b.outDir = outDir
	b.outDir = outDir
	b.imapClients = envInt("IMAP_CLIENTS", 200)
	b.imapAccounts = envInt("IMAP_ACCOUNTS", b.imapClients)
	b.imapIdle = b.n["memory"] // connections
	b.imapDuration = time.Duration(envInt("IMAP_SECONDS", 30)) * time.Second
	b.steadyClients = envInt("STEADY_CLIENTS", 10)
	b.steadyClient = cmp.Or(os.Getenv("STEADY_CLIENT"), "raw")
	if b.steadyClient != "raw" && b.steadyClient != "imapclient" {
		log.Fatal("benchrun: STEADY_CLIENT raw or imapclient")
	}
	if b.steadyClients < 1 || b.steadyClients > 1000 || b.n["imap-steady"] < 20 || b.n["imap-steady"] > 20000 {
		log.Fatal("benchrun: STEADY_CLIENTS 1…1000, N_IMAP_STEADY 20…20000")
	}
	if b.imapClients < 1 || b.imapClients > 5000 || b.imapAccounts < 1 || b.imapAccounts > 1000 || b.imapIdle < 1 || b.imapIdle > 5000 ||
		b.imapDuration < time.Second || b.imapDuration > 30*time.Minute || b.n["imap"] < 1 || b.n["imap"] > 200000 || b.n["imap-concurrency"] < 1 || b.n["imap-concurrency"] > 20000 {
		log.Fatal("benchrun: IMAP_CLIENTS 1…5000, IMAP_ACCOUNTS 1…1000, N_MEMORY 1…5000, IMAP_SECONDS 1…1800, N_IMAP 1…200000, N_IMAP_CONCURRENCY 1…20000")
	}
	b.postfixMaster = findTool("/usr/lib/postfix/sbin/master")
	b.dovecotBin = findTool("dovecot")
	b.smtpSource = findTool("smtp-source")
	b.smtpSink = findTool("smtp-sink")
	b.python = findTool("/usr/bin/python3")
	wd, _ := os.Getwd()
	b.poplibScript = filepath.Join(wd, "pop3/testdata/poplib_retr_all.py")
	b.imaplibScript = filepath.Join(wd, "imap/testdata/imaplib_append.py")

	cleanup = func() {
		stopAll()
		if *keep {
			fmt.Fprintf(os.Stderr, "benchrun: work directory kept: %s\n", work)
		} else {
			os.RemoveAll(work)
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		select {
		case s := <-sig:
			fmt.Fprintf(os.Stderr, "benchrun: %v: stopping everything\n", s)
		case <-time.After(*maxTime):
			fmt.Fprintf(os.Stderr, "benchrun: -max-time %v reached: stopping everything\n", *maxTime)
		}
		stopping.Store(true)
		cleanup()
		os.Exit(130)
	}()

	// The DNS server of every scenario: Petrel resolves through it only.
	b.dnsAddr = fmt.Sprintf("%s:%d", ipDNS, freePort(ipDNS))
	dnsLog := filepath.Join(work, "benchdns.log")
	dp, err := start("benchdns", dnsLog, exec.Command(b.dnsBin, "-addr", b.dnsAddr, "-domains", "20", "-max-time", maxTime.String()))
	if err != nil {
		fatalf("%v", err)
	}
	time.Sleep(200 * time.Millisecond)
	if dp.exited() {
		fatalf("benchdns exited: %s", tail(dnsLog, 1000))
	}

	b.logf("work directory %s; %d rounds; scenarios %s", work, b.rounds, strings.Join(scen, " "))
	var results []*result
	for _, s := range scen {
		var r *result
		var err error
		load0 := loadavg()
		switch s {
		case "outbound":
			r, err = b.outbound()
		case "pop3":
			r, err = b.pop3()
		case "smtp-accept":
			r, err = b.smtpAccept()
		case "ceiling":
			r, err = b.ceiling()
		case "imap":
			r, err = b.imapBig()
		case "imap-concurrency":
			r, err = b.imapConcurrency()
		case "imap-steady":
			r, err = b.imapSteady()
		case "memory":
			r, err = b.memory()
		}
		if stopping.Load() {
			select {} // the signal handler is stopping everything and exits
		}
		if err != nil {
			b.logf("%s: FAILED: %v", s, err)
			stopAll()
			if _, err := start("benchdns", dnsLog, exec.Command(b.dnsBin, "-addr", b.dnsAddr, "-domains", "20", "-max-time", maxTime.String())); err != nil {
				fatalf("restarting benchdns: %v", err)
			}
			continue
		}
		r.notes = append(r.notes, fmt.Sprintf("%s: load average (1, 5, 15 min) %s at the start, %s at the end.", s, load0, loadavg()))
		results = append(results, r)
		results = append(results, r.more...)
	}
	table := formatTable(results, b)
	fmt.Print(table)
	os.WriteFile(filepath.Join(outDir, "results.md"), []byte(table), 0o644)
	cleanup()
}

func findTool(name string) string {
	if filepath.IsAbs(name) {
		if _, err := os.Stat(name); err != nil {
			fatalf("%s is missing (bench/run.sh installs it)", name)
		}
		return name
	}
	p, err := exec.LookPath(name)
	if err != nil {
		for _, d := range []string{"/usr/sbin", "/usr/bin", "/sbin"} {
			if _, err := os.Stat(filepath.Join(d, name)); err == nil {
				return filepath.Join(d, name)
			}
		}
		fatalf("%s not found (bench/run.sh installs it)", name)
	}
	return p
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func envInt(k string, def int) int {
	var v int
	if _, err := fmt.Sscan(os.Getenv(k), &v); err == nil {
		return v
	}
	return def
}

func envDur(k string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(k)); err == nil {
		return d
	}
	return def
}
