package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/clvflow/clvflow/config"
	"github.com/clvflow/clvflow/internal/searchattr"
	"github.com/clvflow/clvflow/policy"
	"go.yaml.in/yaml/v3"
)

// knownConfigKeys are clvflow's configuration keys (package config, the one
// definition). A CLVFLOW_* variable anywhere in the deployment files must
// name one of them: viper silently ignores an unknown variable, so a typo
// would otherwise fall back to a default without a word.
var knownConfigKeys = config.Keys()

// envName maps a config key to its environment variable.
func envName(key string) string { return config.EnvName(key) }

// knownEnv is the set of environment variables derived from knownConfigKeys.
var knownEnv = func() map[string]bool {
	m := make(map[string]bool, len(knownConfigKeys))
	for _, k := range knownConfigKeys {
		m[envName(k)] = true
	}
	return m
}()

// Rules, one per structural check. Each has a negative test below.
const (
	ruleParse           = "yaml-parse"
	ruleServiceImage    = "service-image"
	ruleImagePinned     = "image-pinned"
	ruleDependsOn       = "depends-on"
	ruleHealthcheck     = "healthcheck-test"
	rulePortLoopback    = "port-loopback"
	ruleVolume          = "volume-declared"
	ruleInterpolation   = "interpolation"
	ruleEnvKey          = "env-key"
	ruleSearchAttrs     = "search-attributes"
	ruleBuckets         = "bucket-setup"
	ruleDockerfile      = "dockerfile"
	ruleObjectIdentity  = "object-identity"
	ruleKustomize       = "kustomize-resource"
	ruleSelector        = "selector"
	ruleContainer       = "container"
	ruleProbePort       = "probe-port"
	ruleServicePort     = "service-port"
	ruleConfigRef       = "config-ref"
	ruleTargetRef       = "target-ref"
	ruleSecretTemplate  = "secret-placeholder"
	composeFileName     = "docker-compose.yaml"
	envExampleFileName  = ".env.example"
	dockerfileName      = "Dockerfile"
	kustomizationName   = "kustomization.yaml"
	secretPlaceholder   = "CHANGE_ME"
	searchAttrSetupName = "temporal-setup"
	bucketSetupName     = "minio-setup"
)

// finding is one violated rule, located by file and line.
type finding struct {
	File string
	Line int
	Rule string
	Msg  string
}

func (f finding) String() string {
	return fmt.Sprintf("%s:%d: [%s] %s", f.File, f.Line, f.Rule, f.Msg)
}

// findings collects violations.
type findings []finding

func (fs *findings) add(file string, n *yaml.Node, rule, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	*fs = append(*fs, finding{File: file, Line: line, Rule: rule, Msg: fmt.Sprintf(format, args...)})
}

func (fs findings) rules() []string {
	var out []string
	for _, f := range fs {
		if !slices.Contains(out, f.Rule) {
			out = append(out, f.Rule)
		}
	}
	return out
}

// ---- yaml.Node helpers -----------------------------------------------------

// resolve follows aliases (*anchor) to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

type pair struct{ Key, Val *yaml.Node }

// pairs returns a mapping's entries in file order, with YAML merge keys
// (<<: *anchor) expanded; explicit keys override merged ones.
func pairs(n *yaml.Node) []pair {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	var own, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			switch v.Kind {
			case yaml.MappingNode:
				merged = append(merged, pairs(v)...)
			case yaml.SequenceNode:
				for _, m := range v.Content {
					merged = append(merged, pairs(m)...)
				}
			}
			continue
		}
		own = append(own, pair{k, v})
	}
	out := own
	for _, m := range merged {
		if !slices.ContainsFunc(out, func(p pair) bool { return p.Key.Value == m.Key.Value }) {
			out = append(out, m)
		}
	}
	return out
}

// get returns the value of key in mapping n, or nil.
func get(n *yaml.Node, key string) *yaml.Node {
	for _, p := range pairs(n) {
		if p.Key.Value == key {
			return p.Val
		}
	}
	return nil
}

// dig follows a path of mapping keys.
func dig(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		n = get(n, k)
		if n == nil {
			return nil
		}
	}
	return n
}

// str returns a scalar's value ("" for anything else).
func str(n *yaml.Node) string {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

// items returns a sequence's elements, resolved.
func items(n *yaml.Node) []*yaml.Node {
	n = resolve(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = resolve(c)
	}
	return out
}

// text joins a scalar or a sequence of scalars (command, entrypoint).
func text(n *yaml.Node) string {
	n = resolve(n)
	if n == nil {
		return ""
	}
	if n.Kind == yaml.ScalarNode {
		return n.Value
	}
	var parts []string
	for _, c := range items(n) {
		parts = append(parts, str(c))
	}
	return strings.Join(parts, " ")
}

// stringMap reads a mapping of scalars.
func stringMap(n *yaml.Node) map[string]string {
	ps := pairs(n)
	if ps == nil {
		return nil
	}
	m := make(map[string]string, len(ps))
	for _, p := range ps {
		m[p.Key.Value] = str(p.Val)
	}
	return m
}

// loadDocs parses every YAML document of a file.
func loadDocs(fsys fs.FS, name string) ([]*yaml.Node, error) {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(doc.Content) == 0 || (doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].Tag == "!!null") {
			continue // empty document, e.g. a trailing "---"
		}
		docs = append(docs, doc.Content[0])
	}
}

// ---- shared checks ---------------------------------------------------------

// checkEnvName reports a CLVFLOW_* variable that is not a known config key.
func checkEnvName(out *findings, file string, n *yaml.Node, name string) {
	if strings.HasPrefix(name, "CLVFLOW_") && !knownEnv[name] {
		out.add(file, n, ruleEnvKey, "%s is not a clvflow config key (known: %s)", name, strings.Join(sortedKnownEnv(), ", "))
	}
}

func sortedKnownEnv() []string {
	out := make([]string, 0, len(knownEnv))
	for k := range knownEnv {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// missingSearchAttrs returns the attributes of searchattr.All that a set-up
// script does not register as "<Name> <Type>" (the script's `ensure NAME TYPE`).
func missingSearchAttrs(script string) []string {
	var missing []string
	for _, a := range searchattr.All {
		re := regexp.MustCompile(`\b` + regexp.QuoteMeta(a.Name) + `\s+` + regexp.QuoteMeta(a.Type) + `\b`)
		if !re.MatchString(script) {
			missing = append(missing, a.Name+" "+a.Type)
		}
	}
	if !strings.Contains(script, "search-attribute create") {
		missing = append(missing, "(no `temporal operator search-attribute create` call)")
	}
	return missing
}

// imagePinned reports whether an image reference names a fixed tag or digest.
func imagePinned(ref string) bool {
	if strings.Contains(ref, "@sha256:") {
		return true
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	i := strings.LastIndex(last, ":")
	if i < 0 {
		return false
	}
	tag := last[i+1:]
	return tag != "" && tag != "latest"
}

// ---- compose ---------------------------------------------------------------

// checkCompose validates dir/docker-compose.yaml, dir/.env.example and
// dir/Dockerfile.
func checkCompose(fsys fs.FS, dir string) findings {
	var out findings
	file := path.Join(dir, composeFileName)
	envFile := path.Join(dir, envExampleFileName)

	envVars, envLines := parseEnvExample(fsys, envFile, &out)

	docs, err := loadDocs(fsys, file)
	if err != nil {
		out.add(file, nil, ruleParse, "cannot parse: %v", err)
		return out
	}
	if len(docs) != 1 {
		out.add(file, nil, ruleParse, "want exactly one YAML document, got %d", len(docs))
		return out
	}
	root := docs[0]
	servicesNode := get(root, "services")
	services := pairs(servicesNode)
	if len(services) == 0 {
		out.add(file, root, ruleServiceImage, "no services defined")
		return out
	}
	byName := map[string]*yaml.Node{}
	for _, s := range services {
		byName[s.Key.Value] = s.Val
	}
	topVolumes := map[string]bool{}
	for _, p := range pairs(get(root, "volumes")) {
		topVolumes[p.Key.Value] = true
	}

	for _, s := range services {
		name, svc := s.Key.Value, s.Val
		image := str(get(svc, "image"))
		build := get(svc, "build")
		switch {
		case image == "" && build == nil:
			out.add(file, s.Key, ruleServiceImage, "service %q has neither image nor build", name)
		case build == nil && !imagePinned(image):
			out.add(file, get(svc, "image"), ruleImagePinned, "service %q uses image %q without a pinned tag (not :latest)", name, image)
		}

		checkDependsOn(&out, file, name, get(svc, "depends_on"), byName)

		if hc := get(svc, "healthcheck"); hc != nil && !healthcheckOK(hc) {
			out.add(file, hc, ruleHealthcheck, "service %q: healthcheck needs a non-empty test (string, or [CMD|CMD-SHELL, ...])", name)
		}

		for _, p := range items(get(svc, "ports")) {
			if ok, desc := portOnLoopback(p); !ok {
				out.add(file, p, rulePortLoopback, "service %q publishes %s on all interfaces; bind it to 127.0.0.1", name, desc)
			}
		}

		for _, v := range items(get(svc, "volumes")) {
			if src, named := namedVolume(v); named && !topVolumes[src] {
				out.add(file, v, ruleVolume, "service %q mounts volume %q that is not declared under top-level volumes", name, src)
			}
		}

		for _, e := range composeEnv(get(svc, "environment")) {
			checkEnvName(&out, file, e.node, e.name)
		}
	}

	// Search attributes registered by the one-shot setup service.
	if setup, ok := byName[searchAttrSetupName]; !ok {
		out.add(file, servicesNode, ruleSearchAttrs, "no %q service registering the Temporal search attributes", searchAttrSetupName)
	} else {
		if img := str(get(setup, "image")); !strings.HasPrefix(img, "temporalio/admin-tools:") {
			out.add(file, setup, ruleSearchAttrs, "service %q must use temporalio/admin-tools (has %q)", searchAttrSetupName, img)
		}
		script := text(get(setup, "entrypoint")) + "\n" + text(get(setup, "command"))
		if missing := missingSearchAttrs(script); len(missing) > 0 {
			out.add(file, setup, ruleSearchAttrs, "service %q does not register: %s", searchAttrSetupName, strings.Join(missing, ", "))
		}
	}

	// Every bucket the clvflow services use is created with versioning.
	checkBuckets(&out, file, services, byName)

	checkInterpolation(&out, fsys, file, envVars)
	for _, name := range sortedKeys(envVars) {
		if strings.HasPrefix(name, "CLVFLOW_") && !knownEnv[name] {
			out = append(out, finding{envFile, envLines[name], ruleEnvKey, name + " is not a clvflow config key"})
		}
	}

	out = append(out, checkDockerfile(fsys, path.Join(dir, dockerfileName))...)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// parseEnvExample reads KEY=VALUE lines.
func parseEnvExample(fsys fs.FS, file string, out *findings) (map[string]string, map[string]int) {
	vars, lines := map[string]string{}, map[string]int{}
	data, err := fs.ReadFile(fsys, file)
	if err != nil {
		out.add(file, nil, ruleInterpolation, "missing %s: %v", envExampleFileName, err)
		return vars, lines
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`).MatchString(k) {
			*out = append(*out, finding{file, n, ruleInterpolation, fmt.Sprintf("not a KEY=VALUE line: %q", line)})
			continue
		}
		vars[k], lines[k] = v, n
	}
	return vars, lines
}

var validConditions = []string{"service_started", "service_healthy", "service_completed_successfully"}

func checkDependsOn(out *findings, file, name string, dep *yaml.Node, byName map[string]*yaml.Node) {
	type edge struct {
		target    string
		node      *yaml.Node
		condition string
	}
	var edges []edge
	if dep = resolve(dep); dep == nil {
		return
	}
	switch dep.Kind {
	case yaml.SequenceNode:
		for _, t := range items(dep) {
			edges = append(edges, edge{str(t), t, "service_started"})
		}
	case yaml.MappingNode:
		for _, p := range pairs(dep) {
			cond := str(get(p.Val, "condition"))
			if cond == "" {
				cond = "service_started"
			}
			edges = append(edges, edge{p.Key.Value, p.Key, cond})
		}
	default:
		out.add(file, dep, ruleDependsOn, "service %q: depends_on must be a list or a mapping", name)
		return
	}
	for _, e := range edges {
		target, ok := byName[e.target]
		switch {
		case e.target == name:
			out.add(file, e.node, ruleDependsOn, "service %q depends on itself", name)
		case !ok:
			out.add(file, e.node, ruleDependsOn, "service %q depends on %q, which is not a service", name, e.target)
		case !slices.Contains(validConditions, e.condition):
			out.add(file, e.node, ruleDependsOn, "service %q: unknown depends_on condition %q (want one of %v)", name, e.condition, validConditions)
		case e.condition == "service_healthy" && !healthcheckOK(get(target, "healthcheck")):
			out.add(file, e.node, ruleDependsOn, "service %q waits for %q to be healthy, but %q has no healthcheck", name, e.target, e.target)
		}
	}
}

// healthcheckOK: a healthcheck mapping with a usable test (or disable: true).
func healthcheckOK(hc *yaml.Node) bool {
	if hc = resolve(hc); hc == nil || hc.Kind != yaml.MappingNode {
		return false
	}
	if str(get(hc, "disable")) == "true" {
		return true
	}
	test := resolve(get(hc, "test"))
	if test == nil {
		return false
	}
	if test.Kind == yaml.ScalarNode {
		return strings.TrimSpace(test.Value) != ""
	}
	parts := items(test)
	if len(parts) == 0 {
		return false
	}
	switch str(parts[0]) {
	case "NONE":
		return true
	case "CMD", "CMD-SHELL":
		return len(parts) >= 2 && strings.TrimSpace(str(parts[1])) != ""
	}
	return false
}

// portOnLoopback checks one `ports` entry (short or long syntax).
func portOnLoopback(p *yaml.Node) (bool, string) {
	if p.Kind == yaml.MappingNode {
		desc := fmt.Sprintf("port %s", str(get(p, "target")))
		return str(get(p, "host_ip")) == "127.0.0.1", desc
	}
	v := str(p)
	return strings.HasPrefix(v, "127.0.0.1:"), fmt.Sprintf("%q", v)
}

// namedVolume returns the source of a volume mount that names a volume
// (not a host path).
func namedVolume(v *yaml.Node) (string, bool) {
	if v.Kind == yaml.MappingNode {
		if str(get(v, "type")) != "volume" {
			return "", false
		}
		src := str(get(v, "source"))
		return src, src != ""
	}
	src, _, ok := strings.Cut(str(v), ":")
	if !ok || strings.HasPrefix(src, "/") || strings.HasPrefix(src, ".") || strings.HasPrefix(src, "~") || strings.HasPrefix(src, "$") {
		return "", false
	}
	return src, true
}

type envEntry struct {
	name string
	node *yaml.Node
}

// composeEnv lists the variable names of an environment block (map or list).
func composeEnv(n *yaml.Node) []envEntry {
	var out []envEntry
	if n = resolve(n); n == nil {
		return nil
	}
	if n.Kind == yaml.MappingNode {
		for _, p := range pairs(n) {
			out = append(out, envEntry{p.Key.Value, p.Key})
		}
		return out
	}
	for _, it := range items(n) {
		name, _, _ := strings.Cut(str(it), "=")
		out = append(out, envEntry{name, it})
	}
	return out
}

var bucketEnvRe = regexp.MustCompile(`^CLVFLOW_STORAGE_[A-Z]+_BUCKET$`)

// bucketTokenRe splits a script into words that could be S3 bucket names.
var bucketTokenRe = regexp.MustCompile(`[a-z0-9.-]+`)

func checkBuckets(out *findings, file string, services []pair, byName map[string]*yaml.Node) {
	setup, ok := byName[bucketSetupName]
	script := text(get(setup, "entrypoint")) + "\n" + text(get(setup, "command"))
	words := bucketTokenRe.FindAllString(script, -1)
	for _, s := range services {
		for _, p := range pairs(get(s.Val, "environment")) {
			if !bucketEnvRe.MatchString(p.Key.Value) {
				continue
			}
			bucket := str(p.Val)
			switch {
			case !ok:
				out.add(file, p.Key, ruleBuckets, "%s=%s but there is no %q service creating the buckets", p.Key.Value, bucket, bucketSetupName)
			case !slices.Contains(words, bucket):
				out.add(file, p.Key, ruleBuckets, "bucket %q (%s) is not created by service %q", bucket, p.Key.Value, bucketSetupName)
			case !strings.Contains(script, "version enable"):
				out.add(file, setup, ruleBuckets, "service %q does not enable versioning (mc version enable)", bucketSetupName)
			}
		}
	}
}

// interpolationRe matches ${NAME...} and $NAME; "$$" is an escaped dollar;
// any other "$" is a template compose rejects.
var interpolationRe = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)|\$`)

// checkInterpolation: every variable compose would substitute is either
// defined in .env.example or has a default (${VAR:-x} / ${VAR-x}).
func checkInterpolation(out *findings, fsys fs.FS, file string, envVars map[string]string) {
	data, err := fs.ReadFile(fsys, file)
	if err != nil {
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, m := range interpolationRe.FindAllStringSubmatch(line, -1) {
			if m[0] == "$$" {
				continue
			}
			if m[0] == "$" {
				*out = append(*out, finding{file, n, ruleInterpolation,
					"invalid interpolation: a lone $ must be written $$ (compose rejects it)"})
				continue
			}
			name, op := m[1], m[2]
			if name == "" {
				name = m[3]
			}
			hasDefault := strings.HasPrefix(op, ":-") || strings.HasPrefix(op, "-")
			if _, ok := envVars[name]; !ok && !hasDefault {
				*out = append(*out, finding{file, n, ruleInterpolation,
					fmt.Sprintf("variable %s is interpolated but not defined in %s and has no default (write $$ for a literal $)", name, envExampleFileName)})
			}
		}
	}
}

// checkDockerfile: CLVFLOW_* ENV keys are known, the ONNX Runtime library path
// points at a file the image copies in, cgo is on, the runtime is bookworm-slim.
func checkDockerfile(fsys fs.FS, file string) findings {
	var out findings
	data, err := fs.ReadFile(fsys, file)
	if err != nil {
		out = append(out, finding{file, 0, ruleDockerfile, fmt.Sprintf("missing Dockerfile: %v", err)})
		return out
	}
	type instr struct {
		line int
		op   string
		args []string
	}
	var ins []instr
	var cur strings.Builder
	start := 0
	for i, raw := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(raw)
		if cur.Len() == 0 && (t == "" || strings.HasPrefix(t, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(t, "\\") {
			cur.WriteString(strings.TrimSuffix(t, "\\") + " ")
			continue
		}
		cur.WriteString(t)
		f := strings.Fields(cur.String())
		cur.Reset()
		ins = append(ins, instr{start, strings.ToUpper(f[0]), f[1:]})
	}
	envs := map[string]string{}
	envLine := map[string]int{}
	var copied []string
	lastFrom, lastFromLine, cgo := "", 0, false
	for _, in := range ins {
		switch in.op {
		case "FROM":
			lastFrom, lastFromLine = in.args[0], in.line
		case "ENV":
			for _, a := range in.args {
				k, v, ok := strings.Cut(a, "=")
				if !ok {
					continue
				}
				envs[k], envLine[k] = v, in.line
				if k == "CGO_ENABLED" && v == "1" {
					cgo = true
				}
			}
		case "COPY":
			if len(in.args) >= 2 && slices.ContainsFunc(in.args, func(a string) bool { return strings.HasPrefix(a, "--from=") }) {
				copied = append(copied, in.args[len(in.args)-1])
			}
		}
	}
	for _, k := range sortedKeys(envs) {
		if strings.HasPrefix(k, "CLVFLOW_") && !knownEnv[k] {
			out = append(out, finding{file, envLine[k], ruleEnvKey, k + " is not a clvflow config key"})
		}
	}
	lib, ok := envs[envName("onnx.library_path")]
	switch {
	case !ok:
		out = append(out, finding{file, 0, ruleDockerfile, "CLVFLOW_ONNX_LIBRARY_PATH is not set"})
	case !slices.Contains(copied, lib):
		out = append(out, finding{file, envLine[envName("onnx.library_path")], ruleDockerfile,
			fmt.Sprintf("CLVFLOW_ONNX_LIBRARY_PATH=%s is not the destination of any COPY --from (have %v)", lib, copied)})
	}
	if !cgo {
		out = append(out, finding{file, 0, ruleDockerfile, "CGO_ENABLED=1 is not set (onnxruntime_go needs cgo)"})
	}
	if lastFrom != "debian:bookworm-slim" {
		out = append(out, finding{file, lastFromLine, ruleDockerfile, fmt.Sprintf("runtime stage is %q, want debian:bookworm-slim", lastFrom)})
	}
	return out
}

// ---- kubernetes ------------------------------------------------------------

type k8sObject struct {
	file string
	node *yaml.Node
	kind string
	name string
}

type podTemplate struct {
	obj    k8sObject
	labels map[string]string
	spec   *yaml.Node
}

// checkK8s validates every *.yaml / *.yml document in dir.
func checkK8s(fsys fs.FS, dir string) findings {
	var out findings
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		out = append(out, finding{dir, 0, ruleParse, err.Error()})
		return out
	}
	var objs []k8sObject
	var files []string
	for _, e := range entries {
		if e.IsDir() || !(strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
			continue
		}
		file := path.Join(dir, e.Name())
		files = append(files, file)
		docs, err := loadDocs(fsys, file)
		if err != nil {
			out.add(file, nil, ruleParse, "cannot parse: %v", err)
			continue
		}
		for _, d := range docs {
			o := k8sObject{file: file, node: d, kind: str(get(d, "kind")), name: str(dig(d, "metadata", "name"))}
			if str(get(d, "apiVersion")) == "" || o.kind == "" {
				out.add(file, d, ruleObjectIdentity, "object without apiVersion/kind")
				continue
			}
			if o.name == "" && o.kind != "Kustomization" {
				out.add(file, d, ruleObjectIdentity, "%s without metadata.name", o.kind)
				continue
			}
			objs = append(objs, o)
		}
	}

	checkKustomization(&out, fsys, dir, files, objs)

	configMaps, secrets := map[string]map[string]bool{}, map[string]map[string]bool{}
	var pods []podTemplate
	for _, o := range objs {
		switch o.kind {
		case "ConfigMap":
			keys := map[string]bool{}
			for _, p := range pairs(get(o.node, "data")) {
				keys[p.Key.Value] = true
				checkEnvName(&out, o.file, p.Key, p.Key.Value)
			}
			configMaps[o.name] = keys
		case "Secret":
			keys := map[string]bool{}
			if d := get(o.node, "data"); d != nil {
				out.add(o.file, d, ruleSecretTemplate, "Secret %q has base64 data; templates in the repository use stringData with %s placeholders", o.name, secretPlaceholder)
			}
			for _, p := range pairs(get(o.node, "stringData")) {
				keys[p.Key.Value] = true
				checkEnvName(&out, o.file, p.Key, p.Key.Value)
				if !strings.Contains(str(p.Val), secretPlaceholder) {
					out.add(o.file, p.Val, ruleSecretTemplate, "Secret %q key %s holds a value that is not a %s placeholder: never commit real secrets", o.name, p.Key.Value, secretPlaceholder)
				}
			}
			secrets[o.name] = keys
		case "Deployment", "StatefulSet", "DaemonSet", "Job":
			pt := podTemplate{obj: o, labels: stringMap(dig(o.node, "spec", "template", "metadata", "labels")), spec: dig(o.node, "spec", "template", "spec")}
			if pt.spec == nil {
				out.add(o.file, o.node, ruleContainer, "%s %q has no spec.template.spec", o.kind, o.name)
				continue
			}
			if o.kind != "Job" {
				sel := stringMap(dig(o.node, "spec", "selector", "matchLabels"))
				if len(sel) == 0 {
					out.add(o.file, o.node, ruleSelector, "%s %q has no spec.selector.matchLabels", o.kind, o.name)
				} else if !labelsMatch(sel, pt.labels) {
					out.add(o.file, dig(o.node, "spec", "selector"), ruleSelector, "%s %q: selector %v does not match template labels %v", o.kind, o.name, sel, pt.labels)
				}
			}
			pods = append(pods, pt)
		}
	}

	for _, pt := range pods {
		checkPod(&out, pt, configMaps, secrets)
	}

	for _, o := range objs {
		switch o.kind {
		case "Service":
			checkService(&out, o, pods)
		case "HorizontalPodAutoscaler":
			ref := dig(o.node, "spec", "scaleTargetRef")
			kind, name := str(get(ref, "kind")), str(get(ref, "name"))
			if !slices.ContainsFunc(pods, func(p podTemplate) bool { return p.obj.kind == kind && p.obj.name == name }) {
				out.add(o.file, ref, ruleTargetRef, "HorizontalPodAutoscaler %q targets %s %q, which is not defined", o.name, kind, name)
			}
		case "PodDisruptionBudget":
			sel := stringMap(dig(o.node, "spec", "selector", "matchLabels"))
			if len(sel) == 0 || !slices.ContainsFunc(pods, func(p podTemplate) bool { return labelsMatch(sel, p.labels) }) {
				out.add(o.file, dig(o.node, "spec", "selector"), ruleTargetRef, "PodDisruptionBudget %q selector %v matches no pod template", o.name, sel)
			}
		}
	}
	return out
}

// labelsMatch: every selector label is present with the same value.
func labelsMatch(sel, labels map[string]string) bool {
	for k, v := range sel {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func checkKustomization(out *findings, fsys fs.FS, dir string, files []string, objs []k8sObject) {
	var kust *k8sObject
	for i := range objs {
		if objs[i].kind == "Kustomization" {
			kust = &objs[i]
		}
	}
	if kust == nil {
		*out = append(*out, finding{path.Join(dir, kustomizationName), 0, ruleKustomize, "no Kustomization in " + dir})
		return
	}
	listed := map[string]bool{}
	for _, r := range items(get(kust.node, "resources")) {
		p := path.Join(dir, str(r))
		listed[p] = true
		if _, err := fs.Stat(fsys, p); err != nil {
			out.add(kust.file, r, ruleKustomize, "resource %q does not exist", str(r))
		}
	}
	// Every manifest is applied, except templates (*.example.yaml) and the kustomization itself.
	for _, f := range files {
		if f == kust.file || strings.Contains(path.Base(f), ".example.") || listed[f] {
			continue
		}
		*out = append(*out, finding{kust.file, 0, ruleKustomize, fmt.Sprintf("%s is not listed in resources (name it *.example.yaml if it is a template)", f)})
	}
}

// containerPorts collects the declared ports of a pod's containers.
func containerPorts(spec *yaml.Node) (names map[string]bool, numbers map[int]bool) {
	names, numbers = map[string]bool{}, map[int]bool{}
	for _, c := range items(get(spec, "containers")) {
		for _, p := range items(get(c, "ports")) {
			if n := str(get(p, "name")); n != "" {
				names[n] = true
			}
			if n, err := strconv.Atoi(str(get(p, "containerPort"))); err == nil {
				numbers[n] = true
			}
		}
	}
	return names, numbers
}

// portDeclared: a probe/Service port (number or name) is a declared container port.
func portDeclared(n *yaml.Node, names map[string]bool, numbers map[int]bool) bool {
	v := str(n)
	if i, err := strconv.Atoi(v); err == nil {
		return numbers[i]
	}
	return v != "" && names[v]
}

func checkPod(out *findings, pt podTemplate, configMaps, secrets map[string]map[string]bool) {
	o := pt.obj
	names, numbers := containerPorts(pt.spec)
	containers := items(get(pt.spec, "containers"))
	if len(containers) == 0 {
		out.add(o.file, pt.spec, ruleContainer, "%s %q has no containers", o.kind, o.name)
	}
	if ann := dig(o.node, "spec", "template", "metadata", "annotations"); ann != nil {
		if p := get(ann, "prometheus.io/port"); p != nil && !portDeclared(p, names, numbers) {
			out.add(o.file, p, ruleProbePort, "%s %q: prometheus.io/port %s is not a container port", o.kind, o.name, str(p))
		}
	}
	for _, c := range append(items(get(pt.spec, "initContainers")), containers...) {
		cname := str(get(c, "name"))
		if cname == "" || str(get(c, "image")) == "" {
			out.add(o.file, c, ruleContainer, "%s %q: every container needs a name and an image", o.kind, o.name)
		}
		res := get(c, "resources")
		for _, want := range [][]string{{"requests", "cpu"}, {"requests", "memory"}, {"limits", "memory"}} {
			if str(dig(res, want...)) == "" {
				out.add(o.file, c, ruleContainer, "%s %q container %q: resources.%s.%s is not set", o.kind, o.name, cname, want[0], want[1])
			}
		}
		for _, probe := range []string{"livenessProbe", "readinessProbe", "startupProbe"} {
			pr := get(c, probe)
			if pr == nil {
				continue
			}
			for _, handler := range []string{"httpGet", "tcpSocket", "grpc"} {
				if h := get(pr, handler); h != nil {
					if p := get(h, "port"); !portDeclared(p, names, numbers) {
						out.add(o.file, h, ruleProbePort, "%s %q container %q: %s.%s.port %q is not a declared container port", o.kind, o.name, cname, probe, handler, str(p))
					}
				}
			}
		}
		for _, e := range items(get(c, "env")) {
			checkEnvName(out, o.file, e, str(get(e, "name")))
			if ref := dig(e, "valueFrom", "secretKeyRef"); ref != nil {
				checkKeyRef(out, o, ref, "Secret", secrets)
			}
			if ref := dig(e, "valueFrom", "configMapKeyRef"); ref != nil {
				checkKeyRef(out, o, ref, "ConfigMap", configMaps)
			}
		}
		for _, ef := range items(get(c, "envFrom")) {
			for kind, refKey := range map[string]string{"ConfigMap": "configMapRef", "Secret": "secretRef"} {
				ref := get(ef, refKey)
				if ref == nil || str(get(ref, "optional")) == "true" {
					continue
				}
				defined := configMaps
				if kind == "Secret" {
					defined = secrets
				}
				if _, ok := defined[str(get(ref, "name"))]; !ok {
					out.add(o.file, ref, ruleConfigRef, "%s %q container %q: envFrom %s %q is not defined in the manifests", o.kind, o.name, cname, kind, str(get(ref, "name")))
				}
			}
		}
	}
}

func checkKeyRef(out *findings, o k8sObject, ref *yaml.Node, kind string, defined map[string]map[string]bool) {
	if str(get(ref, "optional")) == "true" {
		return
	}
	name, key := str(get(ref, "name")), str(get(ref, "key"))
	keys, ok := defined[name]
	switch {
	case !ok:
		out.add(o.file, ref, ruleConfigRef, "%s %q references %s %q, which is not defined in the manifests", o.kind, o.name, kind, name)
	case !keys[key]:
		out.add(o.file, ref, ruleConfigRef, "%s %q references key %q of %s %q, which has no such key", o.kind, o.name, key, kind, name)
	}
}

func checkService(out *findings, o k8sObject, pods []podTemplate) {
	sel := stringMap(dig(o.node, "spec", "selector"))
	if len(sel) == 0 {
		out.add(o.file, o.node, ruleServicePort, "Service %q has no selector", o.name)
		return
	}
	var target *podTemplate
	for i := range pods {
		if labelsMatch(sel, pods[i].labels) {
			target = &pods[i]
			break
		}
	}
	if target == nil {
		out.add(o.file, dig(o.node, "spec", "selector"), ruleServicePort, "Service %q selector %v matches no pod template", o.name, sel)
		return
	}
	names, numbers := containerPorts(target.spec)
	for _, p := range items(dig(o.node, "spec", "ports")) {
		tp := get(p, "targetPort")
		if tp == nil {
			tp = get(p, "port")
		}
		if !portDeclared(tp, names, numbers) {
			out.add(o.file, p, ruleServicePort, "Service %q targetPort %q is not a container port of %s %q", o.name, str(tp), target.obj.kind, target.obj.name)
		}
	}
}

// ---- tests -----------------------------------------------------------------

// TestDeploymentFiles runs every check on the real files.
func TestDeploymentFiles(t *testing.T) {
	fsys := os.DirFS(".")
	tests := []struct {
		name  string
		check func() findings
	}{
		{"compose", func() findings { return checkCompose(fsys, "compose") }},
		{"k8s", func() findings { return checkK8s(fsys, "k8s") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, f := range tc.check() {
				t.Errorf("%s", f)
			}
		})
	}
}

// TestRealFilesCoverage guards against the checks silently seeing nothing
// (e.g. a renamed file or a parse that yields zero documents).
func TestRealFilesCoverage(t *testing.T) {
	fsys := os.DirFS(".")
	docs, err := loadDocs(fsys, path.Join("compose", composeFileName))
	if err != nil {
		t.Fatal(err)
	}
	var services []string
	for _, p := range pairs(get(docs[0], "services")) {
		services = append(services, p.Key.Value)
	}
	for _, want := range []string{"postgresql", "temporal", "temporal-ui", "temporal-setup", "minio", "minio-setup", "clvflow-worker", "clvflow-serve"} {
		if !slices.Contains(services, want) {
			t.Errorf("compose: service %q missing (have %v)", want, services)
		}
	}
	// The merged anchor must reach the worker: its environment has the storage endpoint.
	worker := get(get(docs[0], "services"), "clvflow-worker")
	if got := str(get(get(worker, "environment"), "CLVFLOW_STORAGE_ENDPOINT")); got != "minio:9000" {
		t.Errorf("compose: clvflow-worker CLVFLOW_STORAGE_ENDPOINT = %q, want minio:9000 (merge of x-clvflow-env)", got)
	}

	kinds := map[string]int{}
	entries, err := fs.ReadDir(fsys, "k8s")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		ds, err := loadDocs(fsys, path.Join("k8s", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			kinds[str(get(d, "kind"))]++
		}
	}
	want := map[string]int{"Kustomization": 1, "Namespace": 1, "ConfigMap": 2, "Secret": 1, "Deployment": 2, "Service": 1,
		"HorizontalPodAutoscaler": 1, "PodDisruptionBudget": 2, "Job": 1}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("k8s: %d objects of kind %s, want %d (all kinds: %v)", kinds[k], k, n, kinds)
		}
	}
}

// TestShippedPoliciesLoad: the policy the compose worker mounts and the one
// in the k8s ConfigMap are valid policies with the documented defaults and
// the same content.
func TestShippedPoliciesLoad(t *testing.T) {
	compose, err := policy.Load(filepath.Join("compose", "policy", "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if compose.Gate != config.Default().Gate || compose.AllowAutoApproval {
		t.Errorf("compose policy %+v: want the default gate and no automatic approval", compose)
	}
	docs, err := loadDocs(os.DirFS("."), path.Join("k8s", "configmap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	found := false
	for _, d := range docs {
		if str(get(get(d, "metadata"), "name")) != "clvflow-policy" {
			continue
		}
		found = true
		for _, name := range []string{"policy.yaml", "allowed_signers"} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(str(get(get(d, "data"), name))), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !found {
		t.Fatal("k8s: no ConfigMap clvflow-policy")
	}
	k8s, err := policy.Load(filepath.Join(dir, "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if k8s.Digest != compose.Digest {
		t.Errorf("the k8s policy (%s) differs from the compose one (%s)", k8s.Digest, compose.Digest)
	}
}

// TestK8sSearchAttributeJob checks the production registration Job lists the
// same attributes as internal/searchattr.
func TestK8sSearchAttributeJob(t *testing.T) {
	docs, err := loadDocs(os.DirFS("."), "k8s/search-attributes-job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var script string
	for _, c := range items(dig(docs[0], "spec", "template", "spec", "containers")) {
		script += text(get(c, "command")) + "\n" + text(get(c, "args"))
	}
	if missing := missingSearchAttrs(script); len(missing) > 0 {
		t.Errorf("k8s/search-attributes-job.yaml does not register: %v", missing)
	}
}

// TestKnownConfigKeys pins the env-name mapping the checks rely on.
func TestKnownConfigKeys(t *testing.T) {
	tests := []struct{ key, want string }{
		{"storage.endpoint", "CLVFLOW_STORAGE_ENDPOINT"},
		{"temporal.gpu_task_queue", "CLVFLOW_TEMPORAL_GPU_TASK_QUEUE"},
		{"onnx.library_path", "CLVFLOW_ONNX_LIBRARY_PATH"},
		{"serving.max_body_bytes", "CLVFLOW_SERVING_MAX_BODY_BYTES"},
	}
	for _, tc := range tests {
		if got := envName(tc.key); got != tc.want {
			t.Errorf("envName(%q) = %q, want %q", tc.key, got, tc.want)
		}
		if !knownEnv[tc.want] {
			t.Errorf("%s not in knownEnv", tc.want)
		}
	}
	if len(knownEnv) != len(knownConfigKeys) {
		t.Errorf("knownEnv has %d entries for %d keys: duplicate key?", len(knownEnv), len(knownConfigKeys))
	}
}

// ---- negative tests on inline snippets -------------------------------------

// validCompose is a small compose project that passes every check; each
// negative case breaks exactly one thing in it.
var validCompose = map[string]string{
	"compose/docker-compose.yaml": `services:
  db:
    image: postgres:16.6
    environment:
      POSTGRES_PASSWORD: ${DB_PASSWORD:?set DB_PASSWORD}
    volumes:
      - db-data:/var/lib/postgresql/data
    healthcheck:
      test: ["CMD-SHELL", "pg_isready"]
  temporal-setup:
    image: temporalio/admin-tools:1.27.2-tctl-1.18.2-cli-1.3.0
    depends_on:
      db:
        condition: service_healthy
    entrypoint: ["/bin/sh", "-c"]
    command:
      - |
        ensure() { temporal operator search-attribute create --name "$$1" --type "$$2"; }
        ensure ClvDataset Keyword
        ensure ClvModelVersion Keyword
        ensure ClvStage Keyword
        ensure ClvGateVerdict Keyword
        ensure ClvGini Double
  minio-setup:
    image: minio/mc:RELEASE.2024-11-21T17-21-54Z
    command: ["sh", "-c", "mc mb x/clvflow-models && mc version enable x/clvflow-models"]
  app:
    image: ${APP_IMAGE:-ghcr.io/clvflow/clvflow:latest}
    build: {context: .}
    depends_on: [db]
    environment:
      CLVFLOW_STORAGE_MODELS_BUCKET: clvflow-models
      CLVFLOW_SERVING_LISTEN: 0.0.0.0:8080
    ports:
      - "127.0.0.1:8080:8080"
volumes:
  db-data:
`,
	"compose/.env.example": "# comment\nDB_PASSWORD=CHANGE_ME\n",
	"compose/Dockerfile": `FROM golang:1.26.8-bookworm AS build
ENV CGO_ENABLED=1
FROM debian:bookworm-slim
COPY --from=build /out/libonnxruntime.so.1 /usr/local/lib/libonnxruntime.so.1
ENV CLVFLOW_ONNX_LIBRARY_PATH=/usr/local/lib/libonnxruntime.so.1 \
    CLVFLOW_SERVING_LISTEN=0.0.0.0:8080
`,
}

// validK8s is a small kustomization that passes every check.
var validK8s = map[string]string{
	"k8s/kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - config.yaml
  - app.yaml
`,
	"k8s/config.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data:
  CLVFLOW_TEMPORAL_ADDRESS: temporal:7233
`,
	"k8s/secret.example.yaml": `apiVersion: v1
kind: Secret
metadata:
  name: sec
stringData:
  CLVFLOW_STORAGE_SECRET_KEY: CHANGE_ME
`,
	"k8s/app.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
      annotations:
        prometheus.io/port: "8080"
    spec:
      containers:
        - name: web
          image: example/web:1.0
          ports:
            - name: http
              containerPort: 8080
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
          livenessProbe:
            tcpSocket:
              port: 8080
          envFrom:
            - configMapRef:
                name: cfg
          env:
            - name: CLVFLOW_STORAGE_SECRET_KEY
              valueFrom:
                secretKeyRef:
                  name: sec
                  key: CLVFLOW_STORAGE_SECRET_KEY
          resources:
            requests:
              cpu: 100m
              memory: 64Mi
            limits:
              memory: 128Mi
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
    - port: 80
      targetPort: http
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: web
  minReplicas: 2
  maxReplicas: 3
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web
spec:
  minAvailable: 1
  selector:
    matchLabels:
      app: web
`,
}

// deleteFile as a replacement removes the file from the snippet.
const deleteFile = "\x00delete"

type mutation struct {
	name     string
	file     string
	old, new string // old == "": set the whole file to new
	wantRule string
}

// apply copies base and applies m; it fails the test when m.old does not
// occur exactly once, so a case can never pass by not breaking anything.
func (m mutation) apply(t *testing.T, base map[string]string) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{}
	for k, v := range base {
		fsys[k] = &fstest.MapFile{Data: []byte(v)}
	}
	switch {
	case m.new == deleteFile:
		if _, ok := fsys[m.file]; !ok {
			t.Fatalf("cannot delete %s: not in the snippet", m.file)
		}
		delete(fsys, m.file)
	case m.old == "":
		fsys[m.file] = &fstest.MapFile{Data: []byte(m.new)}
	default:
		src := base[m.file]
		if n := strings.Count(src, m.old); n != 1 {
			t.Fatalf("mutation %q: %q occurs %d times in %s, want exactly 1", m.name, m.old, n, m.file)
		}
		fsys[m.file] = &fstest.MapFile{Data: []byte(strings.Replace(src, m.old, m.new, 1))}
	}
	return fsys
}

func TestValidSnippetsPass(t *testing.T) {
	tests := []struct {
		name  string
		base  map[string]string
		check func(fs.FS) findings
	}{
		{"compose", validCompose, func(f fs.FS) findings { return checkCompose(f, "compose") }},
		{"k8s", validK8s, func(f fs.FS) findings { return checkK8s(f, "k8s") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := mutation{}.apply(t, nil)
			for k, v := range tc.base {
				fsys[k] = &fstest.MapFile{Data: []byte(v)}
			}
			for _, f := range tc.check(fsys) {
				t.Errorf("valid snippet reported: %s", f)
			}
		})
	}
}

func TestComposeChecksCatchBrokenSnippets(t *testing.T) {
	const file, env, docker = "compose/docker-compose.yaml", "compose/.env.example", "compose/Dockerfile"
	tests := []mutation{
		{"unparseable yaml", file, "services:\n  db:\n", "services:\n  db:\n\t", ruleParse},
		{"no image or build", file, "    image: ${APP_IMAGE:-ghcr.io/clvflow/clvflow:latest}\n    build: {context: .}\n", "", ruleServiceImage},
		{"image on latest", file, "postgres:16.6", "postgres:latest", ruleImagePinned},
		{"image without tag", file, "postgres:16.6", "postgres", ruleImagePinned},
		{"depends_on unknown service", file, "depends_on: [db]", "depends_on: [database]", ruleDependsOn},
		{"depends_on itself", file, "depends_on: [db]", "depends_on: [app]", ruleDependsOn},
		{"depends_on bad condition", file, "condition: service_healthy", "condition: service_ready", ruleDependsOn},
		{"healthy dependency without healthcheck", file, "    healthcheck:\n      test: [\"CMD-SHELL\", \"pg_isready\"]\n", "", ruleDependsOn},
		{"healthcheck without test", file, `test: ["CMD-SHELL", "pg_isready"]`, "interval: 5s", ruleHealthcheck},
		{"healthcheck with empty CMD", file, `test: ["CMD-SHELL", "pg_isready"]`, `test: ["CMD"]`, ruleHealthcheck},
		{"port on all interfaces", file, `"127.0.0.1:8080:8080"`, `"8080:8080"`, rulePortLoopback},
		{"port long syntax without host_ip", file, `      - "127.0.0.1:8080:8080"`, "      - target: 8080\n        published: 8080", rulePortLoopback},
		{"undeclared named volume", file, "- db-data:/var", "- pg-data:/var", ruleVolume},
		{"variable not in .env.example", file, "${DB_PASSWORD:?set DB_PASSWORD}", "${DB_PASS:?set DB_PASS}", ruleInterpolation},
		{"bare variable not in .env.example", file, "${DB_PASSWORD:?set DB_PASSWORD}", "$DB_PASS", ruleInterpolation},
		{"unescaped dollar", file, `--name "$$1"`, `--name "$1"`, ruleInterpolation},
		{"bad .env.example line", env, "DB_PASSWORD=CHANGE_ME", "DB PASSWORD CHANGE_ME", ruleInterpolation},
		{"missing .env.example", env, "", deleteFile, ruleInterpolation},
		{"unknown CLVFLOW key in service", file, "CLVFLOW_SERVING_LISTEN:", "CLVFLOW_SERVING_LISTENER:", ruleEnvKey},
		{"unknown CLVFLOW key in .env.example", env, "DB_PASSWORD=CHANGE_ME\n", "DB_PASSWORD=CHANGE_ME\nCLVFLOW_IMAGE=x\n", ruleEnvKey},
		{"search attribute missing", file, "        ensure ClvGini Double\n", "", ruleSearchAttrs},
		{"search attribute wrong type", file, "ensure ClvGini Double", "ensure ClvGini Keyword", ruleSearchAttrs},
		{"search attribute setup renamed", file, "  temporal-setup:", "  temporal-init:", ruleSearchAttrs},
		{"search attribute setup wrong image", file, "temporalio/admin-tools:1.27.2", "temporalio/server:1.27.2", ruleSearchAttrs},
		{"bucket not created", file, "CLVFLOW_STORAGE_MODELS_BUCKET: clvflow-models", "CLVFLOW_STORAGE_MODELS_BUCKET: models", ruleBuckets},
		{"bucket versioning off", file, " && mc version enable x/clvflow-models", "", ruleBuckets},
		{"bucket setup missing", file, "  minio-setup:", "  mc:", ruleBuckets},
		{"dockerfile unknown CLVFLOW key", docker, "CLVFLOW_SERVING_LISTEN=", "CLVFLOW_LISTEN=", ruleEnvKey},
		{"dockerfile cgo off", docker, "CGO_ENABLED=1", "CGO_ENABLED=0", ruleDockerfile},
		{"dockerfile library path not copied", docker, "CLVFLOW_ONNX_LIBRARY_PATH=/usr/local/lib/", "CLVFLOW_ONNX_LIBRARY_PATH=/opt/", ruleDockerfile},
		{"dockerfile library path unset", docker, "ENV CLVFLOW_ONNX_LIBRARY_PATH=/usr/local/lib/libonnxruntime.so.1 \\\n    ", "ENV ", ruleDockerfile},
		{"dockerfile wrong runtime", docker, "FROM debian:bookworm-slim", "FROM alpine:3.20", ruleDockerfile},
		{"dockerfile missing", docker, "", deleteFile, ruleDockerfile},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := checkCompose(tc.apply(t, validCompose), "compose")
			assertRule(t, got, tc.wantRule)
		})
	}
}

func TestComposeEnvListForm(t *testing.T) {
	// The list form of `environment` is checked like the mapping form.
	m := mutation{file: "compose/docker-compose.yaml",
		old: "    environment:\n      CLVFLOW_STORAGE_MODELS_BUCKET: clvflow-models\n      CLVFLOW_SERVING_LISTEN: 0.0.0.0:8080\n",
		new: "    environment:\n      - CLVFLOW_SERVE_LISTEN=0.0.0.0:8080\n"}
	got := checkCompose(m.apply(t, validCompose), "compose")
	assertRule(t, got, ruleEnvKey)
}

func TestK8sChecksCatchBrokenSnippets(t *testing.T) {
	const kust, cfg, sec, app = "k8s/kustomization.yaml", "k8s/config.yaml", "k8s/secret.example.yaml", "k8s/app.yaml"
	tests := []mutation{
		{"unparseable yaml", app, "kind: HorizontalPodAutoscaler\n", "kind: HorizontalPodAutoscaler\n  : [\n", ruleParse},
		{"object without name", cfg, "  name: cfg\n", "", ruleObjectIdentity},
		{"object without kind", app, "kind: Service\n", "", ruleObjectIdentity},
		{"object without apiVersion", cfg, "apiVersion: v1\n", "", ruleObjectIdentity},
		{"kustomization resource missing", kust, "  - app.yaml", "  - ap.yaml", ruleKustomize},
		{"manifest not in kustomization", "k8s/extra.yaml", "", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n", ruleKustomize},
		{"no kustomization", kust, "", deleteFile, ruleKustomize},
		{"selector does not match template", app, "      app: web\n  template:", "      app: webx\n  template:", ruleSelector},
		{"no selector", app, "  selector:\n    matchLabels:\n      app: web\n  template:", "  template:", ruleSelector},
		{"container without image", app, "          image: example/web:1.0\n", "", ruleContainer},
		{"container without memory limit", app, "            limits:\n              memory: 128Mi\n", "", ruleContainer},
		{"container without cpu request", app, "              cpu: 100m\n", "", ruleContainer},
		{"readiness probe on unknown port name", app, "path: /readyz\n              port: http", "path: /readyz\n              port: metrics", ruleProbePort},
		{"liveness probe on unknown port number", app, "              port: 8080\n", "              port: 9090\n", ruleProbePort},
		{"scrape annotation on unknown port", app, `prometheus.io/port: "8080"`, `prometheus.io/port: "9100"`, ruleProbePort},
		{"service targetPort unknown", app, "targetPort: http", "targetPort: web", ruleServicePort},
		{"service selector matches nothing", app, "    app: web\n  ports:", "    app: api\n  ports:", ruleServicePort},
		{"envFrom unknown ConfigMap", app, "                name: cfg\n", "                name: config\n", ruleConfigRef},
		{"secretKeyRef unknown Secret", app, "                  name: sec\n", "                  name: secret\n", ruleConfigRef},
		{"secretKeyRef unknown key", app, "                  key: CLVFLOW_STORAGE_SECRET_KEY", "                  key: CLVFLOW_STORAGE_ACCESS_KEY", ruleConfigRef},
		{"hpa targets unknown deployment", app, "    name: web\n  minReplicas", "    name: webb\n  minReplicas", ruleTargetRef},
		{"pdb selects nothing", app, "  minAvailable: 1\n  selector:\n    matchLabels:\n      app: web", "  minAvailable: 1\n  selector:\n    matchLabels:\n      app: nope", ruleTargetRef},
		{"secret with a real value", sec, "CHANGE_ME", "hunter2", ruleSecretTemplate},
		{"secret with base64 data", sec, "stringData:\n  CLVFLOW_STORAGE_SECRET_KEY: CHANGE_ME", "data:\n  CLVFLOW_STORAGE_SECRET_KEY: aHVudGVyMg==", ruleSecretTemplate},
		{"unknown CLVFLOW key in ConfigMap", cfg, "CLVFLOW_TEMPORAL_ADDRESS:", "CLVFLOW_TEMPORAL_ADDR:", ruleEnvKey},
		{"unknown CLVFLOW key in container env", app, "            - name: CLVFLOW_STORAGE_SECRET_KEY", "            - name: CLVFLOW_STORAGE_SECRET", ruleEnvKey},
		{"unknown CLVFLOW key in Secret", sec, "  CLVFLOW_STORAGE_SECRET_KEY: CHANGE_ME", "  CLVFLOW_S3_SECRET: CHANGE_ME", ruleEnvKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := checkK8s(tc.apply(t, validK8s), "k8s")
			assertRule(t, got, tc.wantRule)
		})
	}
}

// TestMissingSearchAttrs checks the matcher itself, independent of files.
func TestMissingSearchAttrs(t *testing.T) {
	full := "temporal operator search-attribute create ...\n"
	for _, a := range searchattr.All {
		full += "ensure " + a.Name + " " + a.Type + "\n"
	}
	tests := []struct {
		name, script string
		wantMissing  int
	}{
		{"all present", full, 0},
		{"none", "echo nothing", len(searchattr.All) + 1},
		{"name prefix only", strings.Replace(full, "ClvStage Keyword", "ClvStageX Keyword", 1), 1},
		{"no create call", strings.Replace(full, "search-attribute create", "search-attribute list", 1), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := missingSearchAttrs(tc.script); len(got) != tc.wantMissing {
				t.Errorf("missing = %v, want %d entries", got, tc.wantMissing)
			}
		})
	}
}

func assertRule(t *testing.T, got findings, rule string) {
	t.Helper()
	if !slices.Contains(got.rules(), rule) {
		t.Fatalf("want a [%s] finding, got %d findings: %v", rule, len(got), got)
	}
	for _, f := range got {
		if f.Rule == rule && (f.File == "" || f.Msg == "") {
			t.Errorf("finding without file or message: %+v", f)
		}
	}
}

// TestWorkersScale: the worker can run as many copies as wanted (sharded
// featurize and scoring fan out to every worker): the compose service has no
// container_name and publishes no port, so `docker compose up --scale
// clvflow-worker=N` works; the Kubernetes Deployment runs more than one
// replica and binds no host port.
func TestWorkersScale(t *testing.T) {
	fsys := os.DirFS(".")
	docs, err := loadDocs(fsys, path.Join("compose", composeFileName))
	if err != nil {
		t.Fatal(err)
	}
	worker := get(get(docs[0], "services"), "clvflow-worker")
	if worker == nil {
		t.Fatal("compose: no clvflow-worker service")
	}
	for _, key := range []string{"container_name", "ports", "hostname"} {
		if get(worker, key) != nil {
			t.Errorf("compose: clvflow-worker sets %s: `docker compose up --scale clvflow-worker=N` would fail or collide", key)
		}
	}
	ds, err := loadDocs(fsys, path.Join("k8s", "worker-deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := strconv.Atoi(str(dig(ds[0], "spec", "replicas"))); err != nil || n < 2 {
		t.Errorf("k8s: worker replicas %q, want ≥ 2", str(dig(ds[0], "spec", "replicas")))
	}
	for _, c := range items(dig(ds[0], "spec", "template", "spec", "containers")) {
		for _, p := range items(get(c, "ports")) {
			if get(p, "hostPort") != nil {
				t.Errorf("k8s: worker container %s binds a hostPort: replicas on one node would collide", str(get(c, "name")))
			}
		}
	}
}
