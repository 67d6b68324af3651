// Package dockercheck reads Petrel's Dockerfile and .dockerignore without a
// Docker engine, so that its tests can hold the image to the facts the
// Dockerfile states: a multi-stage build of a static binary, the ports,
// the volume, the variables, a health check that runs a real petrel
// command, and a binary, built the way the Dockerfile builds it, that
// starts on the environment the image gives it and stops on SIGTERM.
//
// It knows the Dockerfile syntax that file uses: instructions with line
// continuations and comment lines, --flags, ARG and ENV (both forms),
// exec (JSON) and shell forms, and shell words with quotes and $VAR or
// ${VAR} expansions. It does not know parser directives (the escape
// character is always \) or heredocs.
package dockercheck

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Instruction is one instruction of a Dockerfile.
type Instruction struct {
	Cmd   string            // upper case: FROM, RUN, ENV, …
	Flags map[string]string // leading --name=value options
	Args  string            // the rest, continuation lines joined
	Line  int               // the line it starts on
}

// Stage is a FROM and the instructions after it.
type Stage struct {
	Base         string // the image it starts from
	Name         string // from "AS name"; "" if none
	Line         int
	Instructions []Instruction
}

// Dockerfile is a parsed Dockerfile.
type Dockerfile struct {
	Stages []*Stage
}

// ParseFile parses the Dockerfile at path.
func ParseFile(path string) (*Dockerfile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dockerfile: %w", err)
	}
	d, err := Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// Parse parses the text of a Dockerfile.
func Parse(text string) (*Dockerfile, error) {
	d := &Dockerfile{}
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(strings.TrimSuffix(lines[i], "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		start := i + 1
		// A trailing \ continues the instruction; comment lines inside it
		// are dropped.
		var b strings.Builder
		for {
			cont := strings.HasSuffix(line, `\`)
			b.WriteString(strings.TrimSuffix(line, `\`))
			if !cont {
				break
			}
			b.WriteByte(' ')
			for {
				i++
				if i >= len(lines) {
					return nil, fmt.Errorf("line %d: the file ends inside a continued instruction", start)
				}
				line = strings.TrimSpace(strings.TrimSuffix(lines[i], "\r"))
				if !strings.HasPrefix(line, "#") {
					break
				}
			}
		}
		full := strings.TrimSpace(b.String())
		cmd, rest, _ := strings.Cut(full, " ")
		in := Instruction{Cmd: strings.ToUpper(cmd), Line: start, Flags: map[string]string{}}
		in.Args = strings.TrimSpace(rest)
		for strings.HasPrefix(in.Args, "--") {
			word, after, _ := strings.Cut(in.Args, " ")
			name, value, _ := strings.Cut(strings.TrimPrefix(word, "--"), "=")
			in.Flags[name] = value
			in.Args = strings.TrimSpace(after)
		}
		if in.Cmd == "FROM" {
			w := strings.Fields(in.Args)
			st := &Stage{Line: start}
			switch {
			case len(w) == 1:
				st.Base = w[0]
			case len(w) == 3 && strings.EqualFold(w[1], "AS"):
				st.Base, st.Name = w[0], w[2]
			default:
				return nil, fmt.Errorf("line %d: FROM %s: want IMAGE [AS NAME]", start, in.Args)
			}
			d.Stages = append(d.Stages, st)
			continue
		}
		if len(d.Stages) == 0 {
			if in.Cmd == "ARG" {
				continue // an ARG for FROM lines
			}
			return nil, fmt.Errorf("line %d: %s before the first FROM", start, in.Cmd)
		}
		st := d.Stages[len(d.Stages)-1]
		st.Instructions = append(st.Instructions, in)
	}
	if len(d.Stages) == 0 {
		return nil, fmt.Errorf("no FROM")
	}
	return d, nil
}

// Final is the last stage: the image.
func (d *Dockerfile) Final() *Stage { return d.Stages[len(d.Stages)-1] }

// Stage returns the stage named name, or nil.
func (d *Dockerfile) Stage(name string) *Stage {
	for _, s := range d.Stages {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// All returns the stage's instructions of one kind, in order.
func (s *Stage) All(cmd string) []Instruction {
	var out []Instruction
	for _, in := range s.Instructions {
		if in.Cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// Var is a variable set by ARG or ENV.
type Var struct {
	Name, Value string
	Line        int
}

// Vars returns what the stage's ARG and ENV instructions set, in order,
// values expanded. buildArgs override ARG defaults, as `docker build
// --build-arg` does.
func (s *Stage) Vars(buildArgs map[string]string) (args, env []Var, err error) {
	sc := newScope(buildArgs)
	for _, in := range s.Instructions {
		set, err := sc.apply(in)
		if err != nil {
			return nil, nil, err
		}
		switch in.Cmd {
		case "ARG":
			args = append(args, set...)
		case "ENV":
			env = append(env, set...)
		}
	}
	return args, env, nil
}

// scope holds the ARG and ENV values a stage has set so far.
type scope struct {
	vals, buildArgs map[string]string
}

func newScope(buildArgs map[string]string) *scope {
	return &scope{vals: map[string]string{}, buildArgs: buildArgs}
}

func (sc *scope) lookup(name string) (string, bool) {
	v, ok := sc.vals[name]
	return v, ok
}

// apply takes in the variables an ARG or ENV instruction sets, and
// returns them; other instructions set none.
func (sc *scope) apply(in Instruction) ([]Var, error) {
	var set []Var
	switch in.Cmd {
	case "ARG":
		name, def, _ := strings.Cut(in.Args, "=")
		if v, ok := sc.buildArgs[name]; ok {
			def = v
		} else if def != "" {
			w, err := Words(def, sc.lookup)
			if err != nil || len(w) != 1 {
				return nil, fmt.Errorf("line %d: ARG %s: bad default", in.Line, in.Args)
			}
			def = w[0]
		}
		set = []Var{{name, def, in.Line}}
	case "ENV":
		var err error
		if set, err = envPairs(in, sc.lookup); err != nil {
			return nil, err
		}
	}
	for _, v := range set {
		sc.vals[v.Name] = v.Value
	}
	return set, nil
}

// envPairs reads ENV NAME=VALUE… or the old form ENV NAME VALUE.
func envPairs(in Instruction, lookup func(string) (string, bool)) ([]Var, error) {
	w, err := Words(in.Args, lookup)
	if err != nil {
		return nil, fmt.Errorf("line %d: ENV: %w", in.Line, err)
	}
	if len(w) == 0 {
		return nil, fmt.Errorf("line %d: ENV sets nothing", in.Line)
	}
	if !strings.Contains(w[0], "=") {
		name, value, _ := strings.Cut(in.Args, " ")
		v, err := Words(strings.TrimSpace(value), lookup)
		if err != nil {
			return nil, fmt.Errorf("line %d: ENV: %w", in.Line, err)
		}
		return []Var{{name, strings.Join(v, " "), in.Line}}, nil
	}
	var out []Var
	for _, kv := range w {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("line %d: ENV %q is not NAME=VALUE", in.Line, kv)
		}
		out = append(out, Var{name, value, in.Line})
	}
	return out, nil
}

// ExecForm parses a JSON array argument (["a", "b"]); ok is false for the
// shell form.
func ExecForm(args string) (argv []string, ok bool, err error) {
	if !strings.HasPrefix(strings.TrimSpace(args), "[") {
		return nil, false, nil
	}
	if err := json.Unmarshal([]byte(args), &argv); err != nil {
		return nil, true, fmt.Errorf("exec form %s: %w", args, err)
	}
	return argv, true, nil
}

// List reads the arguments of EXPOSE or VOLUME: a JSON array or words.
func List(args string) ([]string, error) {
	if v, ok, err := ExecForm(args); ok {
		return v, err
	}
	return strings.Fields(args), nil
}

// Healthcheck is a HEALTHCHECK instruction.
type Healthcheck struct {
	Options map[string]string // interval, timeout, start-period, retries
	Exec    []string          // the CMD, exec form
	Shell   string            // the CMD, shell form ("" if exec form)
	Line    int
}

// Healthcheck returns the stage's last HEALTHCHECK, or nil.
func (s *Stage) Healthcheck() (*Healthcheck, error) {
	all := s.All("HEALTHCHECK")
	if len(all) == 0 {
		return nil, nil
	}
	in := all[len(all)-1]
	cmd, rest, _ := strings.Cut(in.Args, " ")
	if !strings.EqualFold(cmd, "CMD") {
		return nil, fmt.Errorf("line %d: HEALTHCHECK %s: want CMD", in.Line, in.Args)
	}
	h := &Healthcheck{Options: in.Flags, Line: in.Line}
	argv, ok, err := ExecForm(rest)
	if err != nil {
		return nil, fmt.Errorf("line %d: HEALTHCHECK: %w", in.Line, err)
	}
	if ok {
		h.Exec = argv
	} else {
		h.Shell = strings.TrimSpace(rest)
	}
	return h, nil
}

// Command is what the image runs: ENTRYPOINT then CMD, both exec form.
func (s *Stage) Command() ([]string, error) {
	var argv []string
	for _, cmd := range []string{"ENTRYPOINT", "CMD"} {
		all := s.All(cmd)
		if len(all) == 0 {
			continue
		}
		in := all[len(all)-1]
		v, ok, err := ExecForm(in.Args)
		if err != nil || !ok {
			return nil, fmt.Errorf("line %d: %s must be in exec form ([\"…\"]), so that the binary gets SIGTERM: %v", in.Line, cmd, err)
		}
		argv = append(argv, v...)
	}
	return argv, nil
}

// GoBuild is a `go build` command of a RUN instruction.
type GoBuild struct {
	Env     []string // NAME=VALUE assignments before `go`
	Flags   []string // the flags, as given, -o and its value left out
	Output  string   // -o
	Package string   // what is built
	Line    int
}

// takesValue tells the go build flags that take a value.
func takesValue(flag string) bool {
	switch flag {
	case "o", "ldflags", "gcflags", "asmflags", "gccgoflags", "tags", "mod", "modfile", "p", "pkgdir",
		"installsuffix", "buildmode", "compiler", "overlay", "pgo", "toolexec", "C", "covermode", "coverpkg":
		return true
	}
	return false
}

// GoBuild finds the stage's RUN that runs `go build` and reads it, with
// the stage's ARG and ENV values (buildArgs overriding ARG defaults).
func (s *Stage) GoBuild(buildArgs map[string]string) (*GoBuild, error) {
	sc := newScope(buildArgs)
	for _, in := range s.Instructions {
		if _, err := sc.apply(in); err != nil {
			return nil, err
		}
		if in.Cmd != "RUN" {
			continue
		}
		words, err := Words(in.Args, sc.lookup)
		if err != nil {
			return nil, fmt.Errorf("line %d: RUN: %w", in.Line, err)
		}
		for _, cmd := range splitCommands(words) {
			i := 0
			for i < len(cmd) && isAssignment(cmd[i]) {
				i++
			}
			if len(cmd) >= i+2 && cmd[i] == "go" && cmd[i+1] == "build" {
				return readGoBuild(cmd[:i], cmd[i+2:], in.Line)
			}
		}
	}
	return nil, fmt.Errorf("no RUN runs go build")
}

func readGoBuild(env, args []string, line int) (*GoBuild, error) {
	b := &GoBuild{Env: env, Line: line}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			if b.Package != "" {
				return nil, fmt.Errorf("line %d: go build of more than one package (%s, %s)", line, b.Package, a)
			}
			b.Package = a
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if takesValue(name) && !hasValue {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("line %d: go build %s needs a value", line, a)
			}
			i++
			value = args[i]
			a = a + "=" + value
		}
		if name == "o" {
			b.Output = value
			continue
		}
		b.Flags = append(b.Flags, a)
	}
	if b.Package == "" {
		b.Package = "."
	}
	return b, nil
}

var assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

func isAssignment(w string) bool { return assignment.MatchString(w) }

// splitCommands splits a shell command's words at && ; and ||.
func splitCommands(words []string) [][]string {
	var out [][]string
	var cur []string
	for _, w := range words {
		if w == "&&" || w == ";" || w == "||" {
			out = append(out, cur)
			cur = nil
			continue
		}
		cur = append(cur, w)
	}
	return append(out, cur)
}

// Words splits s into shell words: whitespace separates them, '…' quotes
// literally, "…" quotes with $ expansion and \ escapes, \ escapes outside
// quotes, and $NAME, ${NAME}, ${NAME:-default} expand through lookup; an
// unset name is an error, so that a check cannot pass on a typo.
func Words(s string, lookup func(string) (string, bool)) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unclosed ' in %s", s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			inWord = true
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				switch {
				case s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0:
					i++
					cur.WriteByte(s[i])
				case s[i] == '$':
					n, err := expand(s[i:], lookup, &cur)
					if err != nil {
						return nil, err
					}
					i += n - 1
				default:
					cur.WriteByte(s[i])
				}
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unclosed \" in %s", s)
			}
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == '$':
			n, err := expand(s[i:], lookup, &cur)
			if err != nil {
				return nil, err
			}
			i += n - 1
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}

var (
	plainVar  = regexp.MustCompile(`^\$([A-Za-z_][A-Za-z0-9_]*)`)
	bracedVar = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)
)

// expand writes the value of the variable s begins with and returns the
// length of the reference.
func expand(s string, lookup func(string) (string, bool), out *strings.Builder) (int, error) {
	if m := bracedVar.FindStringSubmatch(s); m != nil {
		v, ok := lookup(m[1])
		if (!ok || v == "") && m[2] != "" {
			v, ok = m[3], true
		}
		if !ok {
			return 0, fmt.Errorf("${%s} is set by no ARG or ENV before it", m[1])
		}
		out.WriteString(v)
		return len(m[0]), nil
	}
	if m := plainVar.FindStringSubmatch(s); m != nil {
		v, ok := lookup(m[1])
		if !ok {
			return 0, fmt.Errorf("$%s is set by no ARG or ENV before it", m[1])
		}
		out.WriteString(v)
		return len(m[0]), nil
	}
	out.WriteByte('$')
	return 1, nil
}
