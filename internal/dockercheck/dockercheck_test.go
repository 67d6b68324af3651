package dockercheck

import (
	"bufio"
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The facts the image promises (the list).
var (
	wantPorts  = []string{"25", "465", "587", "110", "995", "143", "993", "80"}
	wantVolume = "/data"
	wantEnv    = map[string]string{"PETREL_DATA_DIR": "/data", "PETREL_CONFIG_OPTIONAL": "/etc/petrel/petrel.toml"}
)

// buildVersion is given as --build-arg VERSION, to see -X reach the binary.
const buildVersion = "0.0.0-dockercheck"

func root(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r, "go.mod")); err != nil {
		t.Fatalf("no go.mod two levels up: %v", err)
	}
	return r
}

func dockerfile(t *testing.T) *Dockerfile {
	t.Helper()
	d, err := ParseFile(filepath.Join(root(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// image is what the tests learn from the Dockerfile.
type image struct {
	build  *Stage
	final  *Stage
	goCmd  *GoBuild
	binary string // where the final stage has the binary
	env    []Var
	health *Healthcheck
	argv   []string
}

func readImage(t *testing.T, d *Dockerfile) *image {
	t.Helper()
	im := &image{final: d.Final()}
	for _, s := range d.Stages {
		if b, err := s.GoBuild(map[string]string{"VERSION": buildVersion}); err == nil {
			im.build, im.goCmd = s, b
		}
	}
	if im.build == nil {
		t.Fatal("no stage runs go build")
	}
	if im.build == im.final {
		t.Fatal("the final stage builds the binary itself: the image would carry the Go toolchain (want a multi-stage build)")
	}
	for _, c := range im.final.All("COPY") {
		w := strings.Fields(c.Args)
		if c.Flags["from"] == im.build.Name && len(w) == 2 && w[0] == im.goCmd.Output {
			im.binary = w[1]
		}
	}
	if im.binary == "" {
		t.Fatalf("the final stage copies no %s from stage %q", im.goCmd.Output, im.build.Name)
	}
	var err error
	if _, im.env, err = im.final.Vars(nil); err != nil {
		t.Fatal(err)
	}
	if im.health, err = im.final.Healthcheck(); err != nil || im.health == nil {
		t.Fatalf("HEALTHCHECK: %v (none: %v)", err, im.health == nil)
	}
	if im.argv, err = im.final.Command(); err != nil {
		t.Fatal(err)
	}
	return im
}

// The facts of the Dockerfile that need no build.
func TestDockerfile(t *testing.T) {
	d := dockerfile(t)
	im := readImage(t, d)

	// The Go of the build image is the one go.mod asks for: its toolchain
	// line (the release with the security fixes) where it has one, else its
	// go line.
	gomod, _ := os.ReadFile(filepath.Join(root(t), "go.mod"))
	m := regexp.MustCompile(`(?m)^toolchain go(\d+\.\d+)`).FindSubmatch(gomod)
	if m == nil {
		m = regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	}
	if m == nil || !strings.HasPrefix(im.build.Base, "golang:"+string(m[1])) {
		t.Errorf("build stage FROM %s: go.mod asks for go %s", im.build.Base, m[1])
	}

	b := im.goCmd
	if !slices.Contains(b.Env, "CGO_ENABLED=0") {
		t.Errorf("line %d: go build without CGO_ENABLED=0 (%v): the binary would need the libc the distroless static base lacks", b.Line, b.Env)
	}
	if !slices.Contains(b.Flags, "-trimpath") {
		t.Errorf("line %d: go build without -trimpath: %v", b.Line, b.Flags)
	}
	if !slices.ContainsFunc(b.Flags, func(f string) bool {
		return strings.HasPrefix(f, "-ldflags=") && strings.Contains(f, "-X main.version="+buildVersion)
	}) {
		t.Errorf("line %d: go build does not set main.version from ARG VERSION: %v", b.Line, b.Flags)
	}
	if b.Package != "./cmd/petrel" {
		t.Errorf("line %d: go build %s, want ./cmd/petrel", b.Line, b.Package)
	}

	var ports []string
	for _, in := range im.final.All("EXPOSE") {
		l, err := List(in.Args)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range l {
			ports = append(ports, strings.TrimSuffix(p, "/tcp"))
		}
	}
	if !sameSet(ports, wantPorts) {
		t.Errorf("EXPOSE %v, want exactly %v", ports, wantPorts)
	}

	var volumes []string
	for _, in := range im.final.All("VOLUME") {
		l, err := List(in.Args)
		if err != nil {
			t.Fatal(err)
		}
		volumes = append(volumes, l...)
	}
	if !slices.Equal(volumes, []string{wantVolume}) {
		t.Errorf("VOLUME %v, want %s", volumes, wantVolume)
	}

	env := map[string]string{}
	for _, v := range im.env {
		env[v.Name] = v.Value
	}
	for k, v := range wantEnv {
		if env[k] != v {
			t.Errorf("ENV %s=%q, want %q", k, env[k], v)
		}
	}

	// The volume starts out owned by the user the image runs as.
	users := im.final.All("USER")
	if len(users) == 0 {
		t.Errorf("the image runs as root (no USER)")
	} else {
		user := users[len(users)-1].Args
		owned := false
		for _, c := range im.final.All("COPY") {
			w := strings.Fields(c.Args)
			if len(w) == 2 && w[1] == wantVolume && c.Flags["chown"] == user {
				owned = true
			}
		}
		if !owned {
			t.Errorf("no COPY --chown=%s makes %s for USER %s: a new volume would not be writable", user, wantVolume, user)
		}
	}

	h := im.health
	if len(h.Exec) < 2 || h.Exec[0] != im.binary {
		t.Errorf("line %d: HEALTHCHECK CMD %v: want exec form running %s (distroless has no shell)", h.Line, h.Exec, im.binary)
	}
	for _, o := range []string{"interval", "timeout", "start-period"} {
		if _, err := time.ParseDuration(h.Options[o]); err != nil {
			t.Errorf("HEALTHCHECK --%s=%q: %v", o, h.Options[o], err)
		}
	}
	if !slices.Equal(im.argv, []string{im.binary, "serve"}) {
		t.Errorf("ENTRYPOINT and CMD run %v, want [%s serve]", im.argv, im.binary)
	}
}

// The build context has every file the build needs: .dockerignore leaves
// out none of the Go and embedded files of ./cmd/petrel and its packages.
func TestDockerignore(t *testing.T) {
	r := root(t)
	ig, err := ParseIgnoreFile(filepath.Join(r, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-deps", "-f",
		`{{if and .Module .Module.Main}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}
{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}
{{end}}{{end}}`, "./cmd/petrel")
	cmd.Dir = r
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	files := append(strings.Fields(string(out)), filepath.Join(r, "go.mod"), filepath.Join(r, "go.sum"))
	if len(files) < 20 {
		t.Fatalf("go list found only %d files", len(files))
	}
	for _, f := range files {
		rel, err := filepath.Rel(r, f)
		if err != nil {
			t.Fatal(err)
		}
		if ig.Excluded(filepath.ToSlash(rel)) {
			t.Errorf(".dockerignore leaves %s out of the build context, and the build needs it", rel)
		}
	}
	for _, p := range []string{".git/config", "petrel-data/mail.db", "mailio/testdata/a.mbox", "cmd/petrel/petrel.test"} {
		if !ig.Excluded(p) {
			t.Errorf(".dockerignore sends %s to the build", p)
		}
	}
}

// The binary built as the Dockerfile builds it is static, knows every
// variable the image sets, starts on the image's environment alone (with
// the data and listeners moved into the test's reach), answers the health
// check, reads a mounted config file, and stops on SIGTERM within Docker's
// grace period.
func TestImageBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds petrel and runs it")
	}
	r := root(t)
	im := readImage(t, dockerfile(t))
	dir := t.TempDir()
	bin := filepath.Join(dir, "petrel")

	build := exec.Command("go", append(append([]string{"build"}, im.goCmd.Flags...), "-o", bin, im.goCmd.Package)...)
	build.Dir = r
	build.Env = append(os.Environ(), im.goCmd.Env...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build as on Dockerfile line %d: %v\n%s", im.goCmd.Line, err, out)
	}

	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("build settings %v: want CGO_ENABLED=0 and -trimpath", settings)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary asks for a dynamic loader: distroless static has none")
		}
	}
	f.Close()

	run := func(env []string, args ...string) (string, string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), err
	}
	if out, _, _ := run(nil, "version"); out != "petrel "+buildVersion+"\n" {
		t.Errorf("petrel version: %q, want the ARG VERSION given to the build", out)
	}

	// Every variable the image sets is one petrel knows.
	out, errOut, err := run(nil, "config", "env")
	if err != nil {
		t.Fatalf("petrel config env: %v %s", err, errOut)
	}
	known := map[string]bool{}
	var listeners []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			known[f[0]] = true
			if strings.HasPrefix(f[0], "PETREL_LISTEN_") {
				listeners = append(listeners, f[0])
			}
		}
	}
	for _, v := range im.env {
		if !known[v.Name] {
			t.Errorf("Dockerfile line %d: ENV %s is not among the variables of `petrel config env`", v.Line, v.Name)
		}
	}
	if len(listeners) < len(wantPorts) {
		t.Fatalf("petrel config env lists %d listeners: %v", len(listeners), listeners)
	}

	// The image's environment, and what the docs add (hostname, domains),
	// with data_dir and the mounted file's place in the test's directory
	// and every listener on a free loopback port.
	etc := filepath.Join(dir, "etc", "petrel", "petrel.toml")
	over := map[string]string{
		"PETREL_DATA_DIR":        filepath.Join(dir, "data"),
		"PETREL_CONFIG_OPTIONAL": etc,
		"PETREL_HOSTNAME":        "mx.example.com",
		"PETREL_DOMAINS":         "example.com",
	}
	for _, l := range listeners {
		over[l] = freePort(t)
	}
	var env []string
	for _, v := range im.env {
		if _, ok := over[v.Name]; !ok {
			env = append(env, v.Name+"="+v.Value)
		}
	}
	for k, v := range over {
		env = append(env, k+"="+v)
	}
	os.MkdirAll(over["PETREL_DATA_DIR"], 0o700)

	t.Run("config file", func(t *testing.T) {
		noHost := slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, "PETREL_HOSTNAME=") })
		out, errOut, err := run(noHost, "config", "check")
		if err != nil || !strings.HasPrefix(out, "the embedded default is valid") {
			t.Errorf("no file mounted: %v %q %q", err, out, errOut)
		}
		os.MkdirAll(filepath.Dir(etc), 0o755)
		if err := os.WriteFile(etc, []byte("hostname = \"mx.file.example\"\ndomains = [\"file.example\"]\n[listen]\nsmtp = \":25\"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(etc)
		out, errOut, err = run(noHost, "config", "check")
		if err != nil || !strings.HasPrefix(out, etc+" is valid: hostname mx.file.example, domains example.com") {
			t.Errorf("file mounted: %v %q %q", err, out, errOut)
		}
		out, _, _ = run(env, "config", "check")
		if !strings.Contains(out, "hostname mx.example.com") {
			t.Errorf("PETREL_HOSTNAME does not win over the file: %q", out)
		}
		os.Remove(etc)
		os.Mkdir(etc, 0o755) // what mounting a missing host file makes
		defer os.Remove(etc)
		if _, errOut, err = run(env, "config", "check"); err == nil || !strings.Contains(errOut, "is a directory") {
			t.Errorf("a directory at the file's place: %v %q", err, errOut)
		}
	})

	// petrel serve, as ENTRYPOINT and CMD say.
	serve := exec.Command(bin, im.argv[1:]...)
	serve.Env = env
	var log syncBuffer
	serve.Stdout, serve.Stderr = &log, &log
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	defer func() {
		if serve.ProcessState == nil {
			serve.Process.Kill()
			<-exited
		}
	}()

	// The HEALTHCHECK command turns healthy within the start period (and
	// the retries after it).
	h := im.health
	timeout, _ := time.ParseDuration(h.Options["timeout"])
	start, _ := time.ParseDuration(h.Options["start-period"])
	healthy := false
	for deadline := time.Now().Add(start + 30*time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		hc := exec.CommandContext(ctx, bin, h.Exec[1:]...)
		hc.Env = env
		err := hc.Run()
		cancel()
		if err == nil {
			healthy = true
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("petrel serve exited (%v):\n%s", err, log.String())
		default:
		}
	}
	if !healthy {
		t.Fatalf("HEALTHCHECK %v never passed:\n%s", h.Exec, log.String())
	}

	// The hostname from the environment is the one in the greeting.
	c, err := net.DialTimeout("tcp", over["PETREL_LISTEN_SMTP"], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	greeting, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if !strings.HasPrefix(greeting, "220 mx.example.com") {
		t.Errorf("SMTP greeting %q, want 220 mx.example.com", greeting)
	}

	// docker stop: SIGTERM, then SIGKILL after 10 seconds.
	serve.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("petrel serve exited with %v after SIGTERM:\n%s", err, log.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("petrel serve still runs 10s after SIGTERM: docker stop would kill it:\n%s", log.String())
	}
}

// The parser on the forms the Dockerfile may take.
func TestParse(t *testing.T) {
	d, err := Parse(`# syntax comment
ARG GO=1.26
FROM golang:1.26 AS build
ARG V=1.0
ENV A=1
ENV B="two words" \
    # a comment inside the instruction
    C=${A}x D='$A'
ENV OLD some  value
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -X main.v=${V}" -o /out/p ./cmd/p && echo built
FROM scratch
COPY --from=build --chown=1:1 /out/p /p
EXPOSE 25 80/tcp
VOLUME ["/data"]
HEALTHCHECK --interval=5s --timeout=1s CMD ["/p", "health"]
ENTRYPOINT ["/p"]
CMD ["serve"]
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Stages) != 2 || d.Stages[0].Name != "build" || d.Stages[0].Base != "golang:1.26" || d.Final().Base != "scratch" {
		t.Fatalf("stages %+v", d.Stages)
	}
	_, env, err := d.Stages[0].Vars(nil)
	if err != nil {
		t.Fatal(err)
	}
	// A variable set in the same ENV is not yet set for it, as in Docker.
	if _, _, err := (&Stage{Instructions: []Instruction{{Cmd: "ENV", Args: "X=1 Y=$X"}}}).Vars(nil); err == nil {
		t.Errorf("ENV X=1 Y=$X: Y expanded X of the same instruction")
	}
	want := []Var{{"A", "1", 5}, {"B", "two words", 6}, {"C", "1x", 6}, {"D", "$A", 6}, {"OLD", "some value", 9}}
	if !slices.Equal(env, want) {
		t.Errorf("env %v, want %v", env, want)
	}
	b, err := d.Stages[0].GoBuild(map[string]string{"V": "2.0"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b.Env, []string{"CGO_ENABLED=0", "GOOS=linux"}) || !slices.Equal(b.Flags, []string{"-trimpath", "-ldflags=-s -X main.v=2.0"}) ||
		b.Output != "/out/p" || b.Package != "./cmd/p" || b.Line != 10 {
		t.Errorf("go build %+v", b)
	}
	fin := d.Final()
	if c := fin.All("COPY"); len(c) != 1 || c[0].Flags["from"] != "build" || c[0].Flags["chown"] != "1:1" || c[0].Args != "/out/p /p" {
		t.Errorf("COPY %+v", c)
	}
	if l, _ := List(fin.All("EXPOSE")[0].Args); !slices.Equal(l, []string{"25", "80/tcp"}) {
		t.Errorf("EXPOSE %v", l)
	}
	if l, _ := List(fin.All("VOLUME")[0].Args); !slices.Equal(l, []string{"/data"}) {
		t.Errorf("VOLUME %v", l)
	}
	h, err := fin.Healthcheck()
	if err != nil || h.Options["interval"] != "5s" || h.Options["timeout"] != "1s" || !slices.Equal(h.Exec, []string{"/p", "health"}) {
		t.Errorf("HEALTHCHECK %+v %v", h, err)
	}
	if argv, err := fin.Command(); err != nil || !slices.Equal(argv, []string{"/p", "serve"}) {
		t.Errorf("command %v %v", argv, err)
	}

	if _, err := Words("go build -X main.v=${NOPE}", func(string) (string, bool) { return "", false }); err == nil {
		t.Errorf("an unset variable expanded silently")
	}
	w, err := Words(`a\ b "c \"d\" $X" 'e $X' ${Y:-dflt}`, func(k string) (string, bool) { return map[string]string{"X": "x"}[k], k == "X" })
	if err != nil || !slices.Equal(w, []string{"a b", `c "d" x`, "e $X", "dflt"}) {
		t.Errorf("words %q %v", w, err)
	}
	for _, bad := range []string{"RUN true\n", "FROM a b\n", ""} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	if d, err := Parse("FROM a\nHEALTHCHECK NONE\n"); err != nil {
		t.Error(err)
	} else if _, err := d.Final().Healthcheck(); err == nil {
		t.Errorf("HEALTHCHECK NONE taken for a check")
	}
	if _, err := (&Stage{Instructions: []Instruction{{Cmd: "CMD", Args: "petrel serve"}}}).Command(); err == nil {
		t.Errorf("a shell-form CMD accepted")
	}
}

func TestIgnorePatterns(t *testing.T) {
	ig, err := ParseIgnore("# comment\n.git\n**/*.test\n**/testdata\n/petrel\ndocs\n!docs/keep.md\nbench/out\nfoo?.txt\n")
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{
		".git/HEAD": true, "a/b/x.test": true, "x.test": true, "mailio/testdata/a": true, "testdata": true,
		"petrel": true, "cmd/petrel/main.go": false, "docs/a.md": true, "docs/keep.md": false,
		"bench/out/r.txt": true, "bench/run.sh": false, "foo1.txt": true, "foo12.txt": false, "go.mod": false,
	} {
		if got := ig.Excluded(p); got != want {
			t.Errorf("Excluded(%q) = %v, want %v", p, got, want)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
