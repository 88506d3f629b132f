// Package docs_test checks what the user documentation quotes of the code: every plugin arg default,
// Score weight and Filter reason in README.md and pkg/plugins/*/README.md, against the args' v1
// defaulting, config/scheduler-config.yaml and the plugins' Reason constants. Nothing is listed here:
// plugins come from the registry and the config, defaults from the scheme, reasons from the source.
//
// The READMEs quote in forms this test reads:
//   - Arg defaults: a table with "arg" and "default" columns (and "plugin", or the README's own
//     plugin); the args in backticks, and in the default column the defaulted args' values in
//     backticks, in order, depth first (a `key=value` label is two values; none for an empty list).
//     In a plugin's README also prose: "`arg` (..., default V...)", V one value.
//   - Score weights: a table with "plugin" and "score weight" columns, a number or "off" (the
//     profile disables the Score). In prose, "<Plugin> weight N", or in a plugin's README "weight N".
//   - Filter reasons: a table whose first column is "reason" (and "plugin", or the README's own
//     plugin), the reason in backticks; "<...>" stands for what the code fills in.
package docs_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubeschedulerscheme "k8s.io/kubernetes/pkg/scheduler/apis/config/scheme"
	_ "sigs.k8s.io/scheduler-plugins/apis/config/scheme"
	"sigs.k8s.io/yaml"

	_ "github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config/scheme"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins"
)

// root is the repository root, from this package's directory.
const root = "../.."

const shippedProfile = "gpu-scheduler"

// doc is one README: its path from the root, its lines, and for a plugin's README the plugin.
type doc struct {
	path   string
	lines  []string
	plugin string
}

func (d doc) at(line int) string { return fmt.Sprintf("%s:%d", d.path, line+1) }

// docs reads README.md and every plugin's README, whose title must be a registered plugin's name.
func docs(t *testing.T) []doc {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(root, "pkg/plugins/*/README.md"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no plugin READMEs (%v)", err)
	}
	registry := plugins.Registry()
	out := []doc{readDoc(t, "README.md")}
	for _, p := range paths {
		rel, _ := filepath.Rel(root, p)
		d := readDoc(t, rel)
		d.plugin = strings.TrimPrefix(d.lines[0], "# ")
		if _, ok := registry[d.plugin]; !ok {
			t.Fatalf("%s: title %q is not a registered plugin", rel, d.lines[0])
		}
		out = append(out, d)
	}
	return out
}

func readDoc(t *testing.T, rel string) doc {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return doc{path: rel, lines: strings.Split(string(b), "\n")}
}

// table is a Markdown table: lower-case header cells and the rows' cells, each with its line.
type table struct {
	header []string
	rows   [][]string
	line   []int
}

func (tb table) col(name string) int { return slices.Index(tb.header, name) }

// cells splits a table line at each | but \|, which is a | in the cell.
func cells(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	var out []string
	var cell strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			cell.WriteByte('|')
			i++
		case line[i] == '|':
			out = append(out, strings.TrimSpace(cell.String()))
			cell.Reset()
		default:
			cell.WriteByte(line[i])
		}
	}
	return append(out, strings.TrimSpace(cell.String()))
}

func (d doc) tables() []table {
	var out []table
	for i := 0; i+1 < len(d.lines); i++ {
		if !strings.HasPrefix(d.lines[i], "|") || !strings.HasPrefix(d.lines[i+1], "|---") {
			continue
		}
		tb := table{}
		for _, h := range cells(d.lines[i]) {
			tb.header = append(tb.header, strings.ToLower(h))
		}
		j := i + 2
		for ; j < len(d.lines) && strings.HasPrefix(d.lines[j], "|"); j++ {
			row := cells(d.lines[j])
			// A short row reads as empty cells, which then differ from what the code says.
			row = append(row, make([]string, max(len(tb.header)-len(row), 0))...)
			tb.rows, tb.line = append(tb.rows, row), append(tb.line, j)
		}
		out = append(out, tb)
		i = j
	}
	return out
}

var backticked = regexp.MustCompile("`([^`]+)`")

// quoted returns the backticked spans of s.
func quoted(s string) []string {
	var out []string
	for _, m := range backticked.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// pluginOf names the plugin of a row: its "plugin" cell's first word, or the README's plugin.
func pluginOf(d doc, tb table, row []string) string {
	if c := tb.col("plugin"); c >= 0 && c < len(row) {
		if f := strings.Fields(strings.ReplaceAll(row[c], "`", "")); len(f) > 0 {
			return f[0]
		}
	}
	return d.plugin
}

// config is the part of config/scheduler-config.yaml these checks read.
type config struct {
	Profiles []struct {
		SchedulerName string `json:"schedulerName"`
		Plugins       struct {
			MultiPoint pluginSet `json:"multiPoint"`
			Score      pluginSet `json:"score"`
		} `json:"plugins"`
		PluginConfig []struct {
			Name string          `json:"name"`
			Args json.RawMessage `json:"args"`
		} `json:"pluginConfig"`
	} `json:"profiles"`
}

type pluginSet struct {
	Enabled  []pluginEntry `json:"enabled"`
	Disabled []pluginEntry `json:"disabled"`
}

type pluginEntry struct {
	Name   string `json:"name"`
	Weight int32  `json:"weight"`
}

func shippedConfig(t *testing.T) config {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "config/scheduler-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c config
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Profiles) != 1 || c.Profiles[0].SchedulerName != shippedProfile {
		t.Fatalf("config/scheduler-config.yaml: want the one profile %q, the READMEs' shipped profile", shippedProfile)
	}
	return c
}

// weights are the shipped profile's Score weights as kube-scheduler applies them: a multiPoint or
// score entry's weight (0 means 1), "off" for a Score the profile disables. Those configured
// explicitly, a weight or a disabled Score, are the ones README.md must list.
func weights(c config) (all map[string]string, explicit []string) {
	p := c.Profiles[0].Plugins
	all = map[string]string{}
	for _, set := range []pluginSet{p.MultiPoint, p.Score} {
		for _, e := range set.Enabled {
			all[e.Name] = strconv.Itoa(int(max(e.Weight, 1)))
			if e.Weight != 0 {
				explicit = append(explicit, e.Name)
			}
		}
	}
	for _, d := range p.Score.Disabled {
		all[d.Name] = "off"
		explicit = append(explicit, d.Name)
	}
	return all, explicit
}

var (
	namedWeight = regexp.MustCompile("`?([A-Z][A-Za-z]+)`? weight (\\d+)\\b")
	weight      = regexp.MustCompile(`\bweight (\d+)\b`)
)

func TestScoreWeights(t *testing.T) {
	want, explicit := weights(shippedConfig(t))
	listed := map[string]bool{}
	for _, d := range docs(t) {
		for _, tb := range d.tables() {
			w := tb.col("score weight")
			if w < 0 {
				continue
			}
			for i, row := range tb.rows {
				name := pluginOf(d, tb, row)
				got := strings.Fields(row[w] + " ?")[0]
				listed[name] = listed[name] || d.plugin == ""
				if want[name] != got {
					t.Errorf("%s: %s's Score weight is %q, the shipped profile's %q", d.at(tb.line[i]), name, got, want[name])
				}
			}
		}
		for i, line := range d.lines {
			named := map[int]bool{}
			for _, m := range namedWeight.FindAllStringSubmatchIndex(line, -1) {
				name, got := line[m[2]:m[3]], line[m[4]:m[5]]
				named[m[4]] = true
				if want[name] != got {
					t.Errorf("%s: %q: %s's Score weight in the shipped profile is %q", d.at(i), line[m[0]:m[1]], name, want[name])
				}
			}
			for _, m := range weight.FindAllStringSubmatchIndex(line, -1) {
				if named[m[2]] || strings.HasPrefix(line, "|") {
					continue
				}
				if d.plugin == "" {
					t.Errorf("%s: %q does not name its plugin (write \"<Plugin> weight N\")", d.at(i), line[m[0]:m[1]])
				} else if got := line[m[2]:m[3]]; want[d.plugin] != got {
					t.Errorf("%s: %q: %s's Score weight in the shipped profile is %q", d.at(i), line[m[0]:m[1]], d.plugin, want[d.plugin])
				}
			}
		}
	}
	for _, name := range explicit {
		if !listed[name] {
			t.Errorf("README.md lists no Score weight for %s (%s in the shipped profile)", name, want[name])
		}
	}
}

// schemeGV is where kube-scheduler, and so the scheme, finds a plugin's args: kind <Plugin>Args.
var schemeGV = schema.GroupVersion{Group: "kubescheduler.config.k8s.io", Version: "v1"}

// defaultArgs returns the plugin's v1 args defaulted from empty (the scheme runs its SetDefaults_*),
// or nil for a plugin without args.
func defaultArgs(t *testing.T, plugin string) runtime.Object {
	t.Helper()
	obj, err := kubeschedulerscheme.Scheme.New(schemeGV.WithKind(plugin + "Args"))
	if err != nil {
		return nil
	}
	kubeschedulerscheme.Scheme.Default(obj)
	return obj
}

// argNames are the JSON names of the args' fields.
func argNames(obj runtime.Object) []string {
	var out []string
	typ := reflect.TypeOf(obj).Elem()
	for i := range typ.NumField() {
		if name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ","); name != "" {
			out = append(out, name)
		}
	}
	return out
}

// field is one member of a JSON object, in the object's order.
type field struct {
	key string
	val any
}

// ordered decodes JSON keeping the order of object members: []field for an object, []any for an
// array, else the scalar (numbers as json.Number).
func ordered(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		var obj []field
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := ordered(dec)
			if err != nil {
				return nil, err
			}
			obj = append(obj, field{key: k.(string), val: v})
		}
		_, err = dec.Token()
		return obj, err
	case json.Delim('['):
		arr := []any{}
		for dec.More() {
			v, err := ordered(dec)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		_, err = dec.Token()
		return arr, err
	}
	return tok, nil
}

// argValues returns the scalars of an arg path ("windowSize", "interconnects[].name") in the
// defaulted args, depth first, in the order of the JSON.
func argValues(t *testing.T, obj runtime.Object, path string) ([]string, error) {
	t.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tree, err := ordered(dec)
	if err != nil {
		t.Fatal(err)
	}
	top, _, _ := strings.Cut(strings.Split(path, ".")[0], "[")
	if !slices.Contains(argNames(obj), top) {
		return nil, fmt.Errorf("no arg %q (args: %s)", top, strings.Join(argNames(obj), ", "))
	}
	vals := []any{tree}
	for _, seg := range strings.Split(path, ".") {
		name, each := strings.CutSuffix(seg, "[]")
		var next []any
		for _, v := range vals {
			obj, _ := v.([]field)
			for _, f := range obj {
				if f.key != name {
					continue
				}
				if arr, ok := f.val.([]any); ok && each {
					next = append(next, arr...)
				} else {
					next = append(next, f.val)
				}
			}
		}
		vals = next
	}
	var out []string
	var flatten func(any)
	flatten = func(v any) {
		switch v := v.(type) {
		case []field:
			for _, f := range v {
				flatten(f.val)
			}
		case []any:
			for _, e := range v {
				flatten(e)
			}
		case nil:
		default:
			out = append(out, fmt.Sprint(v))
		}
	}
	for _, v := range vals {
		flatten(v)
	}
	return out, nil
}

// defaultTokens reads a default column's cell: its backticked values, a label's key=value as two.
func defaultTokens(cell string) []string {
	var out []string
	for _, q := range quoted(cell) {
		out = append(out, strings.Split(q, "=")...)
	}
	return out
}

// proseDefault is "`arg` (..., default V" in a plugin's README.
var proseDefault = regexp.MustCompile("`([a-zA-Z]+)` \\((?:[^()]*?[ ,;])?default `?([^`,;) ]+)")

func TestArgDefaults(t *testing.T) {
	defaults := map[string]runtime.Object{}
	argsOf := func(plugin string) runtime.Object {
		if _, ok := defaults[plugin]; !ok {
			defaults[plugin] = defaultArgs(t, plugin)
		}
		return defaults[plugin]
	}
	check := func(where, plugin string, args, got []string) {
		obj := argsOf(plugin)
		if obj == nil {
			t.Errorf("%s: %s takes no args", where, plugin)
			return
		}
		var want []string
		for _, a := range args {
			vals, err := argValues(t, obj, a)
			if err != nil {
				t.Errorf("%s: %s: %v", where, plugin, err)
				return
			}
			want = append(want, vals...)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %s %s: the README says default %q, the code %q", where, plugin, strings.Join(args, ", "), got, want)
		}
	}
	// README.md's table must cover every arg of every registered plugin that takes args.
	covered := map[string]bool{}
	for _, d := range docs(t) {
		for _, tb := range d.tables() {
			a, def := tb.col("arg"), tb.col("default")
			if a < 0 || def < 0 {
				continue
			}
			for i, row := range tb.rows {
				plugin, args := pluginOf(d, tb, row), quoted(row[a])
				check(d.at(tb.line[i]), plugin, args, defaultTokens(row[def]))
				if d.plugin == "" {
					for _, arg := range args {
						top, _, _ := strings.Cut(strings.Split(arg, ".")[0], "[")
						covered[plugin+"."+top] = true
					}
				}
			}
		}
		if d.plugin == "" {
			continue
		}
		for i, line := range d.lines {
			for _, m := range proseDefault.FindAllStringSubmatch(line, -1) {
				check(d.at(i), d.plugin, []string{m[1]}, []string{m[2]})
			}
		}
	}
	for name := range plugins.Registry() {
		obj := argsOf(name)
		if obj == nil {
			continue
		}
		for _, arg := range argNames(obj) {
			if !covered[name+"."+arg] {
				t.Errorf("README.md's args table has no row for %s's %s", name, arg)
			}
		}
	}
}

// TestShippedArgsAreDefaults: config/scheduler-config.yaml shows every arg of the registered plugins,
// each at its default, as it and README.md say.
func TestShippedArgsAreDefaults(t *testing.T) {
	c := shippedConfig(t)
	shown := map[string]bool{}
	for _, pc := range c.Profiles[0].PluginConfig {
		if _, ours := plugins.Registry()[pc.Name]; !ours {
			continue
		}
		shown[pc.Name] = true
		want := defaultArgs(t, pc.Name)
		if want == nil {
			t.Errorf("config/scheduler-config.yaml: args for %s, which takes none", pc.Name)
			continue
		}
		got := reflect.New(reflect.TypeOf(want).Elem()).Interface().(runtime.Object)
		dec := json.NewDecoder(bytes.NewReader(pc.Args))
		dec.DisallowUnknownFields()
		if err := dec.Decode(got); err != nil {
			t.Errorf("config/scheduler-config.yaml: %s args: %v", pc.Name, err)
			continue
		}
		var present map[string]json.RawMessage
		if err := json.Unmarshal(pc.Args, &present); err != nil {
			t.Fatal(err)
		}
		wantJSON, _ := json.Marshal(want)
		var defaulted map[string]json.RawMessage
		if err := json.Unmarshal(wantJSON, &defaulted); err != nil {
			t.Fatal(err)
		}
		for arg := range defaulted {
			if _, ok := present[arg]; !ok {
				t.Errorf("config/scheduler-config.yaml: %s's %s is not shown", pc.Name, arg)
			}
		}
		kubeschedulerscheme.Scheme.Default(got)
		if !apiequality.Semantic.DeepEqual(got, want) {
			t.Errorf("config/scheduler-config.yaml: %s args are not the defaults:\n got %s\nwant %s", pc.Name, pc.Args, wantJSON)
		}
	}
	for name := range plugins.Registry() {
		if defaultArgs(t, name) != nil && !shown[name] {
			t.Errorf("config/scheduler-config.yaml: no pluginConfig for %s", name)
		}
	}
}

// verb is a fmt verb in a reason's format.
var verb = regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z]`)

// reason is a Reason constant of a plugin: its text, and what matches a quote of it (anything, such
// as a "<...>" placeholder, where the text has a verb).
type reason struct {
	name, text string
	quote      *regexp.Regexp
}

// reasons reads each plugin's Reason* string constants from its package's source, by plugin name.
func reasons(t *testing.T, ds []doc) map[string][]reason {
	t.Helper()
	out := map[string][]reason{}
	for _, d := range ds {
		if d.plugin == "" {
			continue
		}
		files, err := filepath.Glob(filepath.Join(root, filepath.Dir(d.path), "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, decl := range f.Decls {
				gd, ok := decl.(*ast.GenDecl)
				if !ok || gd.Tok != token.CONST {
					continue
				}
				for _, spec := range gd.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, name := range vs.Names {
						if !strings.HasPrefix(name.Name, "Reason") {
							continue
						}
						var lit *ast.BasicLit
						if i < len(vs.Values) {
							lit, _ = vs.Values[i].(*ast.BasicLit)
						}
						if lit == nil || lit.Kind != token.STRING {
							t.Errorf("%s: %s is not a string literal", file, name.Name)
							continue
						}
						text, _ := strconv.Unquote(lit.Value)
						parts := verb.Split(text, -1)
						for j := range parts {
							parts[j] = regexp.QuoteMeta(parts[j])
						}
						out[d.plugin] = append(out[d.plugin], reason{name: name.Name, text: text,
							quote: regexp.MustCompile("^" + strings.Join(parts, ".+") + "$")})
					}
				}
			}
		}
	}
	return out
}

func TestFilterReasons(t *testing.T) {
	ds := docs(t)
	code := reasons(t, ds)
	if len(code) == 0 {
		t.Fatal("no Reason constants found in the plugins' source")
	}
	for _, d := range ds {
		quotedIn := map[string]bool{}
		for _, tb := range d.tables() {
			if len(tb.header) == 0 || tb.header[0] != "reason" {
				continue
			}
			for i, row := range tb.rows {
				plugin, text := pluginOf(d, tb, row), strings.Join(quoted(row[0]), "")
				match := slices.IndexFunc(code[plugin], func(r reason) bool { return r.quote.MatchString(text) })
				if match < 0 {
					t.Errorf("%s: %s reports no reason %q (its reasons: %q)", d.at(tb.line[i]), plugin, text, texts(code[plugin]))
					continue
				}
				quotedIn[plugin+"\x00"+code[plugin][match].name] = true
			}
		}
		// README.md lists every plugin's reasons, a plugin's README its own.
		for plugin, rs := range code {
			if d.plugin != "" && d.plugin != plugin {
				continue
			}
			for _, r := range rs {
				if !quotedIn[plugin+"\x00"+r.name] {
					t.Errorf("%s: no reasons table row for %s's %s %q", d.path, plugin, r.name, r.text)
				}
			}
		}
	}
}

func texts(rs []reason) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.text)
	}
	return out
}
