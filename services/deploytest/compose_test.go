package deploytest

import (
	"bufio"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// ---------------------------------------------------------------------------------------
// Repository layout

// repoRoot walks up from the test's working directory to the folder holding go.work.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("working directory: %v", err)
	}
	for {
		if fi, err := os.Stat(filepath.Join(dir, "go.work")); err == nil && !fi.IsDir() {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.work in any parent of the working directory")
		}
		dir = parent
	}
}

func readFile(t *testing.T, elem ...string) []byte {
	t.Helper()
	p := filepath.Join(elem...)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return b
}

// ---------------------------------------------------------------------------------------
// docker-compose.yml

// Fields that compose accepts in several shapes are decoded as any and normalised by the
// helpers below (anchors and aliases are resolved by yaml.v3).
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string              `yaml:"image"`
	Hostname    string              `yaml:"hostname"`
	Build       any                 `yaml:"build"`
	Command     any                 `yaml:"command"`
	Environment any                 `yaml:"environment"`
	Ports       []any               `yaml:"ports"`
	DependsOn   any                 `yaml:"depends_on"`
	Healthcheck *composeHealthcheck `yaml:"healthcheck"`
	Volumes     []any               `yaml:"volumes"`
}

type composeHealthcheck struct {
	Test    any  `yaml:"test"`
	Disable bool `yaml:"disable"`
}

func loadCompose(t *testing.T, root string) composeFile {
	t.Helper()
	var cf composeFile
	if err := yaml.Unmarshal(readFile(t, root, "docker-compose.yml"), &cf); err != nil {
		t.Fatalf("parse docker-compose.yml: %v", err)
	}
	return cf
}

// strings of a compose list-or-string field; a string is split on blanks.
func stringList(v any) []string {
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		return strings.Fields(v)
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			out = append(out, scalar(e))
		}
		return out
	default:
		return []string{scalar(v)}
	}
}

func scalar(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// healthTest normalises a healthcheck test: a plain string is the CMD-SHELL form.
func healthTest(v any) []string {
	if s, ok := v.(string); ok {
		return []string{"CMD-SHELL", s}
	}
	return stringList(v)
}

// environment of a service, from the map or the KEY=VALUE list form.
func composeEnv(v any) map[string]string {
	env := map[string]string{}
	switch v := v.(type) {
	case map[string]any:
		for k, val := range v {
			env[k] = scalar(val)
		}
	case []any:
		for _, e := range v {
			k, val, _ := strings.Cut(scalar(e), "=")
			env[k] = val
		}
	}
	return env
}

type portMapping struct{ published, target string }

// composePorts understands "8420", "8420:8420", "127.0.0.1:8420:8420/tcp" and the long form.
func composePorts(ports []any) []portMapping {
	var out []portMapping
	for _, p := range ports {
		switch p := p.(type) {
		case map[string]any:
			out = append(out, portMapping{published: scalar(p["published"]), target: scalar(p["target"])})
		default:
			s, _, _ := strings.Cut(scalar(p), "/")
			parts := strings.Split(s, ":")
			target := parts[len(parts)-1]
			published := ""
			if len(parts) >= 2 {
				published = parts[len(parts)-2]
			}
			out = append(out, portMapping{published: published, target: target})
		}
	}
	return out
}

// dependsOn maps each dependency to its condition (the list form means service_started).
func dependsOn(v any) map[string]string {
	deps := map[string]string{}
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			deps[scalar(e)] = "service_started"
		}
	case map[string]any:
		for name, spec := range v {
			cond := "service_started"
			if m, ok := spec.(map[string]any); ok && m["condition"] != nil {
				cond = scalar(m["condition"])
			}
			deps[name] = cond
		}
	}
	return deps
}

// buildSpec returns the build context and Dockerfile of a service ("" if it has no build).
func buildSpec(v any) (context, dockerfile string) {
	switch v := v.(type) {
	case string:
		return v, "Dockerfile"
	case map[string]any:
		context = scalar(v["context"])
		if context == "" {
			context = "."
		}
		dockerfile = scalar(v["dockerfile"])
		if dockerfile == "" {
			dockerfile = "Dockerfile"
		}
		return context, dockerfile
	}
	return "", ""
}

// flagValue finds --name value or --name=value in args.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// healthURL finds the URL a healthcheck probes.
func healthURL(test []string) (*url.URL, bool) {
	for _, a := range test {
		for _, f := range strings.Fields(a) {
			if u, err := url.Parse(f); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
				return u, true
			}
		}
	}
	return nil, false
}

func splitAddrs(t *testing.T, what, list string) [][2]string {
	t.Helper()
	var out [][2]string
	for _, a := range strings.Split(list, ",") {
		host, port, err := net.SplitHostPort(strings.TrimSpace(a))
		if err != nil {
			t.Errorf("%s: %q is not host:port: %v", what, a, err)
			continue
		}
		out = append(out, [2]string{host, port})
	}
	if len(out) == 0 {
		t.Errorf("%s is empty", what)
	}
	return out
}

var strataRoles = []string{"command", "projector"}

func TestComposeServices(t *testing.T) {
	cf := loadCompose(t, repoRoot(t))
	for _, name := range []string{"kafka", "redis", "command", "projector"} {
		svc, ok := cf.Services[name]
		if !ok {
			t.Errorf("service %q missing", name)
			continue
		}
		if svc.Healthcheck == nil || svc.Healthcheck.Disable {
			t.Errorf("service %q has no healthcheck", name)
			continue
		}
		test := healthTest(svc.Healthcheck.Test)
		if len(test) < 2 || (test[0] != "CMD" && test[0] != "CMD-SHELL") {
			t.Errorf("service %q: healthcheck test %q is not [CMD ...] or [CMD-SHELL ...]", name, test)
		}
	}
}

func TestComposeKafka(t *testing.T) {
	cf := loadCompose(t, repoRoot(t))
	k, ok := cf.Services["kafka"]
	if !ok {
		t.Fatal("service kafka missing")
	}
	repo, tag, _ := strings.Cut(k.Image, ":")
	if repo != "apache/kafka" && repo != "docker.io/apache/kafka" {
		t.Errorf("kafka image %q: want the official apache/kafka", k.Image)
	}
	if !regexp.MustCompile(`^4\.\d+(\.\d+)?$`).MatchString(tag) {
		t.Errorf("kafka image %q: want a pinned 4.x tag", k.Image)
	}
	env := composeEnv(k.Environment)
	roles := strings.Split(env["KAFKA_PROCESS_ROLES"], ",")
	if !slices.Contains(roles, "broker") || !slices.Contains(roles, "controller") {
		t.Errorf("KAFKA_PROCESS_ROLES=%q: want a combined broker,controller node (KRaft)", env["KAFKA_PROCESS_ROLES"])
	}
	if env["KAFKA_NODE_ID"] == "" {
		t.Error("KAFKA_NODE_ID not set")
	}
	if env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] != "false" {
		t.Errorf("KAFKA_AUTO_CREATE_TOPICS_ENABLE=%q, want false (Strata creates its topics)", env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"])
	}
	for _, k := range []string{"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"} {
		if env[k] != "1" {
			t.Errorf("%s=%q, want 1 on a single node", k, env[k])
		}
	}
	listeners := env["KAFKA_LISTENERS"]
	if !strings.Contains(listeners, "PLAINTEXT://") || !strings.Contains(listeners, ":9092") ||
		!strings.Contains(listeners, "CONTROLLER://") || !strings.Contains(listeners, ":9093") {
		t.Errorf("KAFKA_LISTENERS=%q: want PLAINTEXT on 9092 and CONTROLLER on 9093", listeners)
	}
	if env["KAFKA_CONTROLLER_LISTENER_NAMES"] != "CONTROLLER" {
		t.Errorf("KAFKA_CONTROLLER_LISTENER_NAMES=%q, want CONTROLLER", env["KAFKA_CONTROLLER_LISTENER_NAMES"])
	}
	if env["KAFKA_ADVERTISED_LISTENERS"] != "PLAINTEXT://kafka:9092" {
		t.Errorf("KAFKA_ADVERTISED_LISTENERS=%q, want PLAINTEXT://kafka:9092", env["KAFKA_ADVERTISED_LISTENERS"])
	}
	if k.Healthcheck != nil {
		if test := strings.Join(healthTest(k.Healthcheck.Test), " "); !strings.Contains(test, "/opt/kafka/bin/kafka-broker-api-versions.sh") ||
			!strings.Contains(test, "--bootstrap-server localhost:9092") {
			t.Errorf("kafka healthcheck %q: want kafka-broker-api-versions.sh --bootstrap-server localhost:9092", test)
		}
	}
	if len(k.Volumes) == 0 {
		t.Error("kafka has no volume: its log would not survive the container")
	}
	checkNamedVolumes(t, cf, "kafka")
}

func TestComposeRedis(t *testing.T) {
	cf := loadCompose(t, repoRoot(t))
	r, ok := cf.Services["redis"]
	if !ok {
		t.Fatal("service redis missing")
	}
	if repo, tag, _ := strings.Cut(r.Image, ":"); repo != "redis" || !strings.HasPrefix(tag, "7.4") {
		t.Errorf("redis image %q, want redis:7.4", r.Image)
	}
	if v, _ := flagValue(stringList(r.Command), "--appendonly"); v != "yes" {
		t.Errorf("redis command %q: want --appendonly yes", stringList(r.Command))
	}
	if r.Healthcheck != nil {
		if test := strings.Join(healthTest(r.Healthcheck.Test), " "); !strings.Contains(test, "redis-cli") || !strings.Contains(test, "ping") {
			t.Errorf("redis healthcheck %q: want redis-cli ping", test)
		}
	}
	if len(r.Volumes) == 0 {
		t.Error("redis has no volume: its append-only file would not survive the container")
	}
	checkNamedVolumes(t, cf, "redis")
}

// checkNamedVolumes: every named volume a service mounts is declared at the top level.
func checkNamedVolumes(t *testing.T, cf composeFile, service string) {
	t.Helper()
	for _, v := range cf.Services[service].Volumes {
		var source string
		switch v := v.(type) {
		case map[string]any:
			source = scalar(v["source"])
		default:
			source, _, _ = strings.Cut(scalar(v), ":")
		}
		if source == "" || strings.HasPrefix(source, ".") || strings.HasPrefix(source, "/") || strings.HasPrefix(source, "~") {
			continue // a bind mount
		}
		if _, ok := cf.Volumes[source]; !ok {
			t.Errorf("%s mounts volume %q, which the top-level volumes do not declare", service, source)
		}
	}
}

func TestComposeStrataServices(t *testing.T) {
	root := repoRoot(t)
	cf := loadCompose(t, root)
	df := parseDockerfile(t, readFile(t, root, "deployments", "Dockerfile"))
	entry := df.final().entrypoint(t)

	for _, role := range strataRoles {
		t.Run(role, func(t *testing.T) {
			svc, ok := cf.Services[role]
			if !ok {
				t.Fatalf("service %q missing", role)
			}
			ctx, dockerfile := buildSpec(svc.Build)
			if ctx != "." || path.Clean(dockerfile) != "deployments/Dockerfile" {
				t.Errorf("build: context %q dockerfile %q, want the repository root (go.work) and deployments/Dockerfile", ctx, dockerfile)
			}
			args := stringList(svc.Command)
			if len(args) == 0 || args[0] != role {
				t.Errorf("command %q: want the %q role first", args, role)
			}

			env := composeEnv(svc.Environment)
			if env["STRATA_LOG_FORMAT"] != "json" {
				t.Errorf("STRATA_LOG_FORMAT=%q, want json", env["STRATA_LOG_FORMAT"])
			}
			checkKafkaEnv(t, cf, env["STRATA_KAFKA"])
			checkRedisEnv(t, cf, env["STRATA_REDIS"])

			deps := dependsOn(svc.DependsOn)
			for _, d := range []string{"kafka", "redis"} {
				if deps[d] != "service_healthy" {
					t.Errorf("depends_on %s: condition %q, want service_healthy", d, deps[d])
				}
			}

			// The listen address: --http for command, --metrics for projector.
			listenFlag := map[string]string{"command": "--http", "projector": "--metrics"}[role]
			wantPath := map[string]string{"command": "/readyz", "projector": "/healthz"}[role]
			listen, ok := flagValue(args, listenFlag)
			if !ok {
				t.Fatalf("command %q has no %s", args, listenFlag)
			}
			lhost, lport, err := net.SplitHostPort(listen)
			if err != nil {
				t.Fatalf("%s %q: %v", listenFlag, listen, err)
			}
			if ip := net.ParseIP(lhost); lhost == "localhost" || (ip != nil && ip.IsLoopback()) {
				t.Errorf("%s %q listens on loopback only: unreachable from outside the container", listenFlag, listen)
			}

			if svc.Healthcheck == nil {
				t.Fatal("no healthcheck")
			}
			test := healthTest(svc.Healthcheck.Test)
			// distroless/static has no shell, curl or wget: the check must exec the binary.
			if len(test) < 2 || test[0] != "CMD" || test[1] != entry {
				t.Errorf("healthcheck %q: want [CMD %s health --url ...] (the image has no shell)", test, entry)
			}
			if len(test) >= 3 && test[2] != "health" {
				t.Errorf("healthcheck %q: want the health subcommand", test)
			}
			u, ok := healthURL(test)
			if !ok {
				t.Fatalf("healthcheck %q probes no URL", test)
			}
			if u.Path != wantPath {
				t.Errorf("healthcheck URL %s: path %q, want %q", u, u.Path, wantPath)
			}
			if u.Port() != lport {
				t.Errorf("healthcheck URL %s: port %q, but the service listens on %q", u, u.Port(), lport)
			}
			if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
				t.Errorf("healthcheck URL %s: want a loopback host (it runs inside the container)", u)
			}

			if role == "command" {
				found := false
				for _, p := range composePorts(svc.Ports) {
					if p.published == "8420" && p.target == "8420" {
						found = true
					}
				}
				if !found {
					t.Errorf("ports %v: want 8420:8420 published", svc.Ports)
				}
				if lport != "8420" {
					t.Errorf("--http port %q, want 8420", lport)
				}
			}
		})
	}
}

// advertisedKafka returns the host:port pairs the kafka service advertises to clients.
func advertisedKafka(cf composeFile) map[string]bool {
	out := map[string]bool{}
	for _, l := range strings.Split(composeEnv(cf.Services["kafka"].Environment)["KAFKA_ADVERTISED_LISTENERS"], ",") {
		if _, addr, ok := strings.Cut(strings.TrimSpace(l), "://"); ok {
			out[addr] = true
		}
	}
	return out
}

func checkKafkaEnv(t *testing.T, cf composeFile, v string) {
	t.Helper()
	adv := advertisedKafka(cf)
	for _, hp := range splitAddrs(t, "STRATA_KAFKA", v) {
		if hp[0] != "kafka" {
			t.Errorf("STRATA_KAFKA %s:%s: host is not the kafka service", hp[0], hp[1])
		}
		if !adv[net.JoinHostPort(hp[0], hp[1])] {
			t.Errorf("STRATA_KAFKA %s:%s is not an advertised kafka listener %v", hp[0], hp[1], adv)
		}
	}
}

func checkRedisEnv(t *testing.T, cf composeFile, v string) {
	t.Helper()
	port := "6379"
	if p, ok := flagValue(stringList(cf.Services["redis"].Command), "--port"); ok {
		port = p
	}
	for _, hp := range splitAddrs(t, "STRATA_REDIS", v) {
		if hp[0] != "redis" || hp[1] != port {
			t.Errorf("STRATA_REDIS %s:%s, want redis:%s", hp[0], hp[1], port)
		}
	}
}

// ---------------------------------------------------------------------------------------
// deployments/Dockerfile and .dockerignore

type dockerInstr struct {
	cmd  string // upper case
	args string
}

type dockerStage struct {
	image, name string
	instrs      []dockerInstr
}

type dockerfile struct{ stages []*dockerStage }

func (d dockerfile) final() *dockerStage { return d.stages[len(d.stages)-1] }

func (s *dockerStage) all(cmd string) []string {
	var out []string
	for _, in := range s.instrs {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

// entrypoint returns the executable of the stage's last ENTRYPOINT (exec form required).
func (s *dockerStage) entrypoint(t *testing.T) string {
	t.Helper()
	eps := s.all("ENTRYPOINT")
	if len(eps) == 0 {
		t.Fatal("Dockerfile: final stage has no ENTRYPOINT")
	}
	var argv []string
	if err := json.Unmarshal([]byte(eps[len(eps)-1]), &argv); err != nil || len(argv) == 0 {
		t.Fatalf("Dockerfile: ENTRYPOINT %s is not the exec (JSON) form; the image has no shell", eps[len(eps)-1])
	}
	return argv[0]
}

// parseDockerfile joins continuation lines, drops comments and parser directives, and
// groups the instructions by stage.
func parseDockerfile(t *testing.T, b []byte) dockerfile {
	t.Helper()
	var df dockerfile
	var logical []string
	var cur strings.Builder
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		if l, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(l + " ")
			continue
		}
		cur.WriteString(line)
		if s := strings.TrimSpace(cur.String()); s != "" {
			logical = append(logical, s)
		}
		cur.Reset()
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		logical = append(logical, s)
	}
	for _, l := range logical {
		cmd, args, _ := strings.Cut(l, " ")
		in := dockerInstr{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			var words []string
			for _, w := range strings.Fields(in.args) {
				if !strings.HasPrefix(w, "--") {
					words = append(words, w)
				}
			}
			if len(words) == 0 {
				t.Fatalf("Dockerfile: FROM without an image")
			}
			st := &dockerStage{image: words[0]}
			if len(words) == 3 && strings.EqualFold(words[1], "AS") {
				st.name = words[2]
			}
			df.stages = append(df.stages, st)
			continue
		}
		if len(df.stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("Dockerfile: %s before the first FROM", in.cmd)
			}
			continue
		}
		st := df.stages[len(df.stages)-1]
		st.instrs = append(st.instrs, in)
	}
	if len(df.stages) == 0 {
		t.Fatal("Dockerfile has no FROM")
	}
	return df
}

// goWorkVersion is the go directive of go.work, as major and minor.
func goWorkVersion(t *testing.T, root string) (int, int) {
	t.Helper()
	m := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)`).FindSubmatch(readFile(t, root, "go.work"))
	if m == nil {
		t.Fatal("go.work has no go directive")
	}
	major, _ := strconv.Atoi(string(m[1]))
	minor, _ := strconv.Atoi(string(m[2]))
	return major, minor
}

func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	df := parseDockerfile(t, readFile(t, root, "deployments", "Dockerfile"))
	if len(df.stages) < 2 {
		t.Fatalf("Dockerfile has %d stage(s), want a build stage and a runtime stage", len(df.stages))
	}

	// The build stage: the stage whose RUN holds `go build ... ./services/strata`.
	var build *dockerStage
	var buildCmd string
	for _, st := range df.stages[:len(df.stages)-1] {
		for _, r := range st.all("RUN") {
			if strings.Contains(r, "go build") && strings.Contains(r, "./services/strata") {
				build, buildCmd = st, r
			}
		}
	}
	if build == nil {
		t.Fatal("no build stage runs `go build ... ./services/strata`")
	}
	repo, tag, _ := strings.Cut(build.image, ":")
	if repo != "golang" && repo != "docker.io/library/golang" {
		t.Errorf("build stage image %q, want the official golang image", build.image)
	}
	if m := regexp.MustCompile(`^(\d+)\.(\d+)`).FindStringSubmatch(tag); m == nil {
		t.Errorf("build stage image %q: want a pinned Go version tag", build.image)
	} else {
		maj, _ := strconv.Atoi(m[1])
		min, _ := strconv.Atoi(m[2])
		wmaj, wmin := goWorkVersion(t, root)
		if maj < wmaj || (maj == wmaj && min < wmin) {
			t.Errorf("build stage Go %d.%d is older than go.work's go %d.%d", maj, min, wmaj, wmin)
		}
	}
	copiesRepo := false
	for _, c := range build.all("COPY") {
		if f := strings.Fields(c); len(f) == 2 && f[0] == "." {
			copiesRepo = true
		}
	}
	if !copiesRepo {
		t.Error("build stage does not COPY the whole repository (go.work is at its root)")
	}
	cgoOff := strings.Contains(buildCmd, "CGO_ENABLED=0")
	for _, e := range build.all("ENV") {
		if regexp.MustCompile(`(^|\s)CGO_ENABLED=0(\s|$)`).MatchString(e) {
			cgoOff = true
		}
	}
	if !cgoOff {
		t.Errorf("go build %q does not run with CGO_ENABLED=0", buildCmd)
	}
	for _, want := range []string{"-trimpath", "-o /strata"} {
		if !strings.Contains(buildCmd, want) {
			t.Errorf("go build %q: missing %s", buildCmd, want)
		}
	}

	// The runtime stage: distroless/static, nonroot, only the binary.
	final := df.final()
	frepo, ftag, _ := strings.Cut(final.image, ":")
	if !strings.HasPrefix(frepo, "gcr.io/distroless/static") {
		t.Errorf("final stage image %q, want gcr.io/distroless/static*", final.image)
	}
	if !strings.Contains(ftag, "nonroot") {
		t.Errorf("final stage image %q, want a :nonroot tag", final.image)
	}
	users := final.all("USER")
	if len(users) == 0 {
		t.Error("final stage sets no USER")
	} else if u, _, _ := strings.Cut(users[len(users)-1], ":"); u == "root" || u == "0" || u == "" {
		t.Errorf("final stage USER %q is root", users[len(users)-1])
	} else if u != "nonroot" && u != "65532" {
		t.Errorf("final stage USER %q, want nonroot (65532)", users[len(users)-1])
	}
	if runs := final.all("RUN"); len(runs) > 0 {
		t.Errorf("final stage has RUN %q, but distroless/static has no shell", runs)
	}
	entry := final.entrypoint(t)
	if entry != "/strata" {
		t.Errorf("ENTRYPOINT runs %q, want /strata", entry)
	}
	copied := false
	for _, c := range final.all("COPY") {
		f := strings.Fields(c)
		if len(f) == 3 && f[0] == "--from="+build.name && f[1] == "/strata" && f[2] == entry {
			copied = true
		}
	}
	if !copied {
		t.Errorf("final stage does not COPY --from=%s /strata %s", build.name, entry)
	}
	exposes := strings.Fields(strings.Join(final.all("EXPOSE"), " "))
	if !slices.Contains(exposes, "8420") && !slices.Contains(exposes, "8420/tcp") {
		t.Errorf("final stage EXPOSE %q, want 8420", exposes)
	}
}

func TestDockerignore(t *testing.T) {
	root := repoRoot(t)
	var patterns []string
	for _, l := range strings.Split(string(readFile(t, root, ".dockerignore")), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, strings.TrimPrefix(l, "/"))
		}
	}
	if !slices.Contains(patterns, ".git") {
		t.Error(".dockerignore does not exclude .git")
	}
	// The build needs these in the context.
	for _, p := range []string{"go.work", "pkg/go.mod", "services/go.mod", "services/strata/main.go", "deployments/Dockerfile"} {
		for _, pat := range patterns {
			if strings.HasPrefix(pat, "!") {
				continue
			}
			matched, _ := filepath.Match(pat, p)
			if matched || pat == "*" || strings.HasPrefix(p, strings.TrimSuffix(pat, "/")+"/") {
				t.Errorf(".dockerignore pattern %q excludes %s, which the image build needs", pat, p)
			}
		}
	}
}

// ---------------------------------------------------------------------------------------
// deployments/kubernetes

type k8sMeta struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace"`
	Labels    map[string]string `yaml:"labels"`
}

type k8sHeader struct {
	APIVersion string  `yaml:"apiVersion"`
	Kind       string  `yaml:"kind"`
	Metadata   k8sMeta `yaml:"metadata"`
}

// intOrString is a Kubernetes IntOrString (a probe or Service target port).
type intOrString struct {
	str string
	num int
}

func (p *intOrString) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("port: want a number or a name")
	}
	if i, err := strconv.Atoi(n.Value); err == nil {
		p.num = i
		return nil
	}
	p.str = n.Value
	return nil
}

func (p intOrString) String() string {
	if p.str != "" {
		return p.str
	}
	return strconv.Itoa(p.num)
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string      `yaml:"path"`
		Port intOrString `yaml:"port"`
	} `yaml:"httpGet"`
	Exec      any `yaml:"exec"`
	TCPSocket any `yaml:"tcpSocket"`
	GRPC      any `yaml:"grpc"`
}

type k8sSecurityContext struct {
	RunAsNonRoot             *bool  `yaml:"runAsNonRoot"`
	RunAsUser                *int64 `yaml:"runAsUser"`
	ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
}

type k8sContainer struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			ConfigMapKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"configMapKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
	} `yaml:"envFrom"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	StartupProbe   *k8sProbe `yaml:"startupProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext *k8sSecurityContext `yaml:"securityContext"`
	VolumeMounts    []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type k8sDeployment struct {
	Metadata k8sMeta `yaml:"metadata"`
	Spec     struct {
		Replicas *int `yaml:"replicas"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata k8sMeta `yaml:"metadata"`
			Spec     struct {
				SecurityContext *k8sSecurityContext `yaml:"securityContext"`
				Containers      []k8sContainer      `yaml:"containers"`
				Volumes         []struct {
					Name string `yaml:"name"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type k8sService struct {
	Metadata k8sMeta `yaml:"metadata"`
	Spec     struct {
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Name       string      `yaml:"name"`
			Port       int         `yaml:"port"`
			TargetPort intOrString `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type k8sConfigMap struct {
	Metadata k8sMeta           `yaml:"metadata"`
	Data     map[string]string `yaml:"data"`
}

type k8sKustomization struct {
	Namespace string   `yaml:"namespace"`
	Resources []string `yaml:"resources"`
}

type k8sManifests struct {
	files          []string // base names of the YAML files
	kustomizations []k8sKustomization
	deployments    []k8sDeployment
	services       []k8sService
	configMaps     []k8sConfigMap
}

func loadK8s(t *testing.T, root string) k8sManifests {
	t.Helper()
	dir := filepath.Join(root, "deployments", "kubernetes")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	var m k8sManifests
	for _, e := range entries {
		if e.IsDir() || (!strings.HasSuffix(e.Name(), ".yaml") && !strings.HasSuffix(e.Name(), ".yml")) {
			continue
		}
		m.files = append(m.files, e.Name())
		dec := yaml.NewDecoder(strings.NewReader(string(readFile(t, dir, e.Name()))))
		for i := 0; ; i++ {
			var doc yaml.Node
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: document %d: %v", e.Name(), i, err)
			}
			if len(doc.Content) == 0 {
				continue // an empty document between ---
			}
			var h k8sHeader
			decodeNode(t, e.Name(), &doc, &h)
			if h.Kind == "" || h.APIVersion == "" {
				t.Errorf("%s: document %d has no kind or apiVersion", e.Name(), i)
				continue
			}
			if h.Kind == "Namespace" {
				t.Errorf("%s: declares a Namespace; the manifests are namespace-less", e.Name())
			}
			if h.Metadata.Namespace != "" {
				t.Errorf("%s: %s/%s pins namespace %q; the manifests are namespace-less", e.Name(), h.Kind, h.Metadata.Name, h.Metadata.Namespace)
			}
			switch h.Kind {
			case "Kustomization":
				var k k8sKustomization
				decodeNode(t, e.Name(), &doc, &k)
				m.kustomizations = append(m.kustomizations, k)
			case "Deployment":
				var d k8sDeployment
				decodeNode(t, e.Name(), &doc, &d)
				m.deployments = append(m.deployments, d)
			case "Service":
				var s k8sService
				decodeNode(t, e.Name(), &doc, &s)
				m.services = append(m.services, s)
			case "ConfigMap":
				var c k8sConfigMap
				decodeNode(t, e.Name(), &doc, &c)
				m.configMaps = append(m.configMaps, c)
			}
		}
	}
	if len(m.files) == 0 {
		t.Fatalf("no YAML files in %s", dir)
	}
	return m
}

func decodeNode(t *testing.T, file string, n *yaml.Node, v any) {
	t.Helper()
	if err := n.Decode(v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// role returns the Strata role a Deployment runs (the first argument of its first container).
func (d k8sDeployment) role() string {
	cs := d.Spec.Template.Spec.Containers
	if len(cs) == 0 {
		return ""
	}
	argv := append(slices.Clone(cs[0].Command), cs[0].Args...)
	for _, a := range argv {
		if slices.Contains(strataRoles, a) {
			return a
		}
	}
	return ""
}

func (m k8sManifests) deployment(t *testing.T, role string) k8sDeployment {
	t.Helper()
	var found []k8sDeployment
	for _, d := range m.deployments {
		if d.role() == role {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d Deployments run the %s role, want 1", len(found), role)
	}
	return found[0]
}

// containerPort resolves a probe or Service port (number or name) to a container port.
func containerPort(c k8sContainer, p intOrString) (int, bool) {
	for _, cp := range c.Ports {
		if (p.str != "" && cp.Name == p.str) || (p.str == "" && cp.ContainerPort == p.num) {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

func subset(sub, of map[string]string) bool {
	if len(sub) == 0 {
		return false
	}
	for k, v := range sub {
		if of[k] != v {
			return false
		}
	}
	return true
}

func TestKubernetesManifests(t *testing.T) {
	m := loadK8s(t, repoRoot(t))

	for _, k := range m.kustomizations {
		if k.Namespace != "" {
			t.Errorf("kustomization pins namespace %q", k.Namespace)
		}
		for _, f := range m.files {
			if f != "kustomization.yaml" && f != "kustomization.yml" && !slices.Contains(k.Resources, f) {
				t.Errorf("kustomization does not list %s", f)
			}
		}
		for _, r := range k.Resources {
			if !slices.Contains(m.files, r) {
				t.Errorf("kustomization lists %s, which does not exist", r)
			}
		}
	}

	// The ConfigMap with the addresses.
	var cm *k8sConfigMap
	for i, c := range m.configMaps {
		if c.Data["STRATA_KAFKA"] != "" || c.Data["STRATA_REDIS"] != "" {
			cm = &m.configMaps[i]
		}
	}
	if cm == nil {
		t.Fatal("no ConfigMap holds STRATA_KAFKA / STRATA_REDIS")
	}
	splitAddrs(t, "ConfigMap STRATA_KAFKA", cm.Data["STRATA_KAFKA"])
	splitAddrs(t, "ConfigMap STRATA_REDIS", cm.Data["STRATA_REDIS"])

	images := map[string]bool{}
	for _, role := range strataRoles {
		t.Run(role, func(t *testing.T) {
			d := m.deployment(t, role)
			pod := d.Spec.Template.Spec
			if !subset(d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) {
				t.Errorf("selector %v does not match the pod labels %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels)
			}
			volumes := map[string]bool{}
			for _, v := range pod.Volumes {
				volumes[v.Name] = true
			}
			for _, c := range pod.Containers {
				images[c.Image] = true
				if c.Image == "" {
					t.Errorf("container %s has no image", c.Name)
				}
				checkContainerSecurity(t, c, pod.SecurityContext)
				for _, r := range []string{"cpu", "memory"} {
					if c.Resources.Requests[r] == "" || c.Resources.Limits[r] == "" {
						t.Errorf("container %s: resources.requests and .limits need %s", c.Name, r)
					}
				}
				for _, vm := range c.VolumeMounts {
					if !volumes[vm.Name] {
						t.Errorf("container %s mounts undeclared volume %q", c.Name, vm.Name)
					}
				}
				for name, p := range map[string]*k8sProbe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
					if p == nil {
						continue
					}
					if p.HTTPGet == nil {
						t.Errorf("container %s: %s probe is not an httpGet", c.Name, name)
						continue
					}
					if p.HTTPGet.Path != "/readyz" && p.HTTPGet.Path != "/healthz" {
						t.Errorf("container %s: %s probe path %q, want /readyz or /healthz", c.Name, name, p.HTTPGet.Path)
					}
					if _, ok := containerPort(c, p.HTTPGet.Port); !ok {
						t.Errorf("container %s: %s probe port %s is not a container port", c.Name, name, p.HTTPGet.Port)
					}
				}
			}

			c := pod.Containers[0]
			checkConfigMapEnv(t, c, cm.Metadata.Name)
			argv := append(slices.Clone(c.Command), c.Args...)
			listenFlag := map[string]string{"command": "--http", "projector": "--metrics"}[role]
			listen, ok := flagValue(argv, listenFlag)
			if !ok {
				t.Fatalf("args %q have no %s", argv, listenFlag)
			}
			lhost, lportStr, err := net.SplitHostPort(listen)
			if err != nil {
				t.Fatalf("%s %q: %v", listenFlag, listen, err)
			}
			if ip := net.ParseIP(lhost); lhost == "localhost" || (ip != nil && ip.IsLoopback()) {
				t.Errorf("%s %q listens on loopback only: the kubelet's probes cannot reach it", listenFlag, listen)
			}
			lport, _ := strconv.Atoi(lportStr)

			if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
				t.Errorf("container %s: want a liveness probe on /healthz", c.Name)
			} else if p, _ := containerPort(c, c.LivenessProbe.HTTPGet.Port); p != lport {
				t.Errorf("container %s: liveness probe port %d, but %s listens on %d", c.Name, p, listenFlag, lport)
			}
			if role == "command" {
				if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
					t.Errorf("command replicas %v, want 3", d.Spec.Replicas)
				}
				if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
					t.Errorf("container %s: want a readiness probe on /readyz", c.Name)
				} else if p, _ := containerPort(c, c.ReadinessProbe.HTTPGet.Port); p != lport {
					t.Errorf("container %s: readiness probe port %d, but --http listens on %d", c.Name, p, lport)
				}
				checkCommandService(t, m, d, c)
			}
		})
	}
	if len(images) > 1 {
		t.Errorf("the roles run different images %v; there is one strata image", images)
	}
}

func checkContainerSecurity(t *testing.T, c k8sContainer, pod *k8sSecurityContext) {
	t.Helper()
	// The container's setting wins over the pod's.
	nonRoot := (*bool)(nil)
	var uid *int64
	if pod != nil {
		nonRoot, uid = pod.RunAsNonRoot, pod.RunAsUser
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsNonRoot != nil {
			nonRoot = sc.RunAsNonRoot
		}
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
	}
	if nonRoot == nil || !*nonRoot {
		t.Errorf("container %s: runAsNonRoot is not true", c.Name)
	}
	if uid != nil && *uid == 0 {
		t.Errorf("container %s: runAsUser 0", c.Name)
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("container %s: readOnlyRootFilesystem is not true", c.Name)
	}
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("container %s: allowPrivilegeEscalation is not false", c.Name)
	}
}

func checkConfigMapEnv(t *testing.T, c k8sContainer, cmName string) {
	t.Helper()
	for _, e := range c.EnvFrom {
		if e.ConfigMapRef != nil && e.ConfigMapRef.Name == cmName {
			return
		}
	}
	for _, key := range []string{"STRATA_KAFKA", "STRATA_REDIS"} {
		ok := false
		for _, e := range c.Env {
			if e.Name == key && e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil &&
				e.ValueFrom.ConfigMapKeyRef.Name == cmName && e.ValueFrom.ConfigMapKeyRef.Key == key {
				ok = true
			}
		}
		if !ok {
			t.Errorf("container %s does not take %s from ConfigMap %s", c.Name, key, cmName)
		}
	}
}

func checkCommandService(t *testing.T, m k8sManifests, d k8sDeployment, c k8sContainer) {
	t.Helper()
	labels := d.Spec.Template.Metadata.Labels
	var svc *k8sService
	for i, s := range m.services {
		if subset(s.Spec.Selector, labels) {
			svc = &m.services[i]
		}
	}
	if svc == nil {
		t.Fatal("no Service selects the command pods")
	}
	for _, other := range m.deployments {
		if other.role() != "command" && subset(svc.Spec.Selector, other.Spec.Template.Metadata.Labels) {
			t.Errorf("Service %s also selects the %s pods", svc.Metadata.Name, other.role())
		}
	}
	found := false
	for _, p := range svc.Spec.Ports {
		target := p.TargetPort
		if target.str == "" && target.num == 0 {
			target.num = p.Port // targetPort defaults to port
		}
		if cp, ok := containerPort(c, target); ok && cp == 8420 {
			found = true
		}
	}
	if !found {
		t.Errorf("Service %s does not route to container port 8420", svc.Metadata.Name)
	}
}

// ---------------------------------------------------------------------------------------
// The binary the image ships

func hasGoSources(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".go") && !strings.HasSuffix(e.Name(), "_test.go") {
			return true
		}
	}
	return false
}

// TestStaticBinary runs the image's build (CGO_ENABLED=0, GOOS=linux) into a temporary
// directory and checks the result runs on distroless/static: no interpreter, no shared
// libraries. On a Linux host it also checks the `strata health --url` contract the compose
// health checks rely on.
func TestStaticBinary(t *testing.T) {
	root := repoRoot(t)
	if !hasGoSources(filepath.Join(root, "services", "strata")) {
		t.Skip("./services/strata has no Go sources yet")
	}
	if testing.Short() {
		t.Skip("builds the strata binary; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "strata")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./services/strata")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build ./services/strata: %v\n%s", err, out)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("open the binary as ELF: %v", err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC {
		t.Errorf("ELF type %v, want ET_EXEC (a static, non-PIE executable)", f.Type)
	}
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP:
			t.Error("the binary has a PT_INTERP header: it needs a dynamic loader")
		case elf.PT_DYNAMIC:
			t.Error("the binary has a PT_DYNAMIC header: it is dynamically linked")
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Errorf("read DT_NEEDED: %v", err)
	}
	if len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}

	t.Run("health subcommand", func(t *testing.T) {
		if runtime.GOOS != "linux" {
			t.Skip("runs the linux binary")
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/readyz" {
				w.WriteHeader(http.StatusOK)
				return
			}
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		defer srv.Close()
		run := func(url string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, "health", "--url", url).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%w: %s", err, out)
			}
			return nil
		}
		if err := run(srv.URL + "/readyz"); err != nil {
			t.Errorf("strata health --url <200 endpoint> failed: %v", err)
		}
		if err := run(srv.URL + "/unready"); err == nil {
			t.Error("strata health --url <503 endpoint> exited 0")
		}
	})
}
