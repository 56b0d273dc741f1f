package plan

import (
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"vitlab/schemas"
)

// Plan is a parsed plan file. It is host-independent; Expand turns it into
// runs for one profile.
type Plan struct {
	// File is the name the plan was read under; errors start with it.
	File        string
	Name        string
	RQ          string
	Description string
	Labels      map[string]string

	models   map[string]*modelDef
	base     *block
	profiles map[string]*block
	// profileOrder lists profile names in file order.
	profileOrder []string
}

// modelDef is one entry of models: a named architecture.
type modelDef struct {
	name string
	pos  Pos
	vals map[string]value // patch, depth, hidden
}

// block is the part of a plan that a profile may override.
type block struct {
	pos         Pos
	description string
	repeats     *value
	allowFew    *value
	timeout     *value
	timeoutDur  time.Duration
	// orderSeed is order_seed: the seed of the run order (nil: not given).
	orderSeed *value
	// traceRepeats is trace_repeats: how many repeats of each
	// configuration run under nsys (nil: not given, every repeat).
	traceRepeats *value
	defaults     map[string]value // nil: not given
	matrix       []axis
	hasMatrix    bool
	include      []entry
	hasInclude   bool
	exclude      []match
	hasExclude   bool
	overrides    []override
	hasOverride  bool
}

// value is a scalar from the plan with its position: int64, float64,
// string or bool, of the type the registry gives its key.
type value struct {
	v   any
	pos Pos
}

func (v value) int() int { i, _ := v.v.(int64); return int(i) }
func (v value) float() float64 {
	switch x := v.v.(type) {
	case float64:
		return x
	case int64:
		return float64(x)
	}
	return 0
}
func (v value) str() string  { s, _ := v.v.(string); return s }
func (v value) set() bool    { return v.v != nil }
func (v value) text() string { return fmt.Sprint(v.v) }

// axis is one matrix axis: a settings key and its values.
type axis struct {
	key    string
	pos    Pos
	values []value
}

// entry is one include item: settings that make one configuration.
type entry struct {
	pos  Pos
	vals map[string]value
}

// match is a condition (exclude item or an override's when): each key must
// have one of the listed values.
type match struct {
	pos   Pos
	conds map[string][]value
}

// override sets values on every configuration its condition matches.
type override struct {
	pos  Pos
	when match
	set  map[string]value
}

// Allowed values of the string settings (the registry's choices) and of
// the plan's own numa key.
var (
	CompileModes = stringChoices("compile_mode")
	Pipelines    = stringChoices("pipeline")
	Preprocess   = stringChoices("preprocess")
	DTypes       = stringChoices("dtype")
	NUMAModes    = []string{"none", "local", "remote"}
)

func stringChoices(key string) []string {
	s, _ := schemas.SettingByKey(key)
	var out []string
	for _, c := range s.Choices {
		if x, ok := c.(string); ok {
			out = append(out, x)
		}
	}
	return out
}

// Plan-only keys: model names an entry of the plan's models section (its
// patch, depth and hidden), numa the placement the runner binds. They are
// not workload settings.
const (
	keyModel = "model"
	keyNUMA  = "numa"
)

// settingKeys are the keys of defaults, matrix, include, exclude and
// overrides: model, every setting of the registry a plan may set, numa.
var settingKeys = func() []string {
	out := []string{keyModel}
	for _, s := range schemas.Settings() {
		if s.Plannable() {
			out = append(out, s.Key)
		}
	}
	return append(out, keyNUMA)
}()

// isSettingKey says whether key may appear in defaults, matrix and the rest.
func isSettingKey(key string) bool { return slices.Contains(settingKeys, key) }

// extraChecks are plan rules on one value beyond the registry's type,
// choices and bounds.
var extraChecks = map[string]func(int64) string{
	"hidden": func(v int64) string {
		if v < 64 || v%64 != 0 {
			return "must be a positive multiple of 64 (heads = hidden/64)"
		}
		return ""
	},
}

// derivedKeys are settings the plan may not set, with the reason.
var derivedKeys = map[string]string{
	"heads": "heads is derived (hidden/64); set hidden",
	"mlp":   "mlp is derived (4×hidden); set hidden",
}

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9_]*$`)
	profileRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	modelRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)
)

// Load reads and parses a plan file.
func Load(path string) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	return Parse(path, data)
}

// Parse parses a plan; file names it in errors. Every problem found is
// returned together as an ErrorList.
func Parse(file string, data []byte) (*Plan, error) {
	root, err := parseYAML(file, data)
	if err != nil {
		return nil, err
	}
	p := &parser{file: file}
	pl := p.plan(root)
	if len(p.errs) > 0 {
		return nil, p.sorted()
	}
	return pl, nil
}

type parser struct {
	file string
	errs ErrorList
	// modelRefs are model values seen anywhere, checked once models are known.
	modelRefs []value
}

func (p *parser) errorf(pos Pos, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// sorted returns the errors in file order without duplicates.
func (p *parser) sorted() ErrorList {
	return sortErrors(p.errs)
}

func sortErrors(errs ErrorList) ErrorList {
	sort.SliceStable(errs, func(i, j int) bool {
		a, b := errs[i].Pos, errs[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	var out ErrorList
	seen := map[string]bool{}
	for _, e := range errs {
		if k := e.Error(); !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	return out
}

var topKeys = []string{"name", "rq", "description", "labels", "models", "repeats", "allow_few_repeats",
	"order_seed", "trace_repeats", "timeout", "defaults", "matrix", "include", "exclude", "overrides", "profiles"}

var profileKeys = []string{"description", "repeats", "allow_few_repeats", "order_seed", "trace_repeats", "timeout", "defaults",
	"matrix", "include", "exclude", "overrides"}

// unknownKey reports a key that is not allowed here, suggesting near names.
func (p *parser) unknownKey(k *node, where string, allowed []string) {
	name := k.val.(string)
	if msg, ok := derivedKeys[name]; ok {
		p.errorf(k.pos, "%s", msg)
		return
	}
	hint := ""
	if s := closest(name, allowed); s != "" {
		hint = fmt.Sprintf(" (did you mean %q?)", s)
	}
	p.errorf(k.pos, "unknown key %q in %s%s", name, where, hint)
}

// closest returns the allowed name s most likely meant: one that s starts
// with or that starts with s, else one within two edits (a swap of
// neighbours counts as one), else "".
func closest(s string, allowed []string) string {
	for _, a := range allowed {
		if len(a) >= 4 && len(s) >= 4 && (strings.HasPrefix(s, a) || strings.HasPrefix(a, s)) {
			return a
		}
	}
	best, bestD := "", 3
	for _, a := range allowed {
		if d := editDistance(s, a); d < bestD {
			best, bestD = a, d
		}
	}
	return best
}

// editDistance is the optimal-string-alignment distance: insertions,
// deletions, substitutions and swaps of neighbours cost 1.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+c)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

func (p *parser) plan(root *node) *Plan {
	pl := &Plan{File: p.file, models: map[string]*modelDef{}, profiles: map[string]*block{}}
	if root.kind != kMap {
		p.errorf(root.pos, "a plan is a mapping of keys (name, matrix, …), not %s", root.describe())
		return pl
	}
	for _, k := range root.keys {
		if !slices.Contains(topKeys, k.val.(string)) {
			p.unknownKey(k, "the plan", topKeys)
		}
	}
	if n := root.get("name"); n != nil {
		pl.Name = p.str(n, "name")
		if pl.Name != "" && !nameRE.MatchString(pl.Name) {
			p.errorf(n.pos, "name %q must be lower-case letters, digits and _ (it starts every run id)", pl.Name)
		}
	} else {
		p.errorf(root.pos, "the plan has no name")
	}
	if n := root.get("rq"); n != nil {
		pl.RQ = p.str(n, "rq")
		if pl.RQ != "" && !nameRE.MatchString(pl.RQ) {
			p.errorf(n.pos, "rq %q must be lower-case letters, digits and _ (e.g. rq1)", pl.RQ)
		}
	}
	if n := root.get("description"); n != nil {
		pl.Description = p.str(n, "description")
	}
	if n := root.get("labels"); n != nil {
		pl.Labels = p.labels(n)
	}
	if n := root.get("models"); n != nil {
		p.models(n, pl)
	}
	pl.base = p.block(root, "the plan", true)
	if n := root.get("profiles"); n != nil {
		if n.kind != kMap {
			p.errorf(n.pos, "profiles must be a mapping of profile name to settings, not %s", n.describe())
		} else {
			for i, k := range n.keys {
				name := k.val.(string)
				if !profileRE.MatchString(name) {
					p.errorf(k.pos, "profile name %q must be lower-case letters, digits, _ and -", name)
				}
				v := n.vals[i]
				if v.kind == kNull {
					v = &node{kind: kMap, pos: v.pos}
				}
				if v.kind != kMap {
					p.errorf(v.pos, "profile %s must be a mapping, not %s", name, v.describe())
					continue
				}
				for _, pk := range v.keys {
					if !slices.Contains(profileKeys, pk.val.(string)) {
						p.unknownKey(pk, "profile "+name, profileKeys)
					}
				}
				pl.profiles[name] = p.block(v, "profile "+name, false)
				pl.profiles[name].pos = k.pos
				pl.profileOrder = append(pl.profileOrder, name)
			}
		}
	}
	for _, r := range p.modelRefs {
		if _, ok := pl.models[r.str()]; !ok {
			names := make([]string, 0, len(pl.models))
			for n := range pl.models {
				names = append(names, n)
			}
			sort.Strings(names)
			if len(names) == 0 {
				p.errorf(r.pos, "model %q is not defined (the plan has no models section)", r.str())
			} else {
				p.errorf(r.pos, "model %q is not defined in models (have %s)", r.str(), strings.Join(names, ", "))
			}
		}
	}
	return pl
}

func (p *parser) str(n *node, what string) string {
	if n.kind != kScalar {
		p.errorf(n.pos, "%s must be a string, not %s", what, n.describe())
		return ""
	}
	s, ok := n.val.(string)
	if !ok {
		p.errorf(n.pos, "%s must be a string, not %s", what, n.describe())
	}
	return s
}

func (p *parser) labels(n *node) map[string]string {
	if n.kind != kMap {
		p.errorf(n.pos, "labels must be a mapping of name to text, not %s", n.describe())
		return nil
	}
	out := map[string]string{}
	for i, k := range n.keys {
		v := n.vals[i]
		if v.kind != kScalar {
			p.errorf(v.pos, "label %s must be a scalar, not %s", k.val, v.describe())
			continue
		}
		out[k.val.(string)] = fmt.Sprint(v.val)
	}
	return out
}

func (p *parser) models(n *node, pl *Plan) {
	if n.kind != kMap {
		p.errorf(n.pos, "models must be a mapping of model name to {patch, depth, hidden}, not %s", n.describe())
		return
	}
	modelKeys := []string{"patch", "depth", "hidden"}
	for i, k := range n.keys {
		name := k.val.(string)
		if !modelRE.MatchString(name) {
			p.errorf(k.pos, "model name %q must be lower-case letters, digits, _, . and -", name)
		}
		v := n.vals[i]
		if v.kind != kMap {
			p.errorf(v.pos, "model %s must be a mapping {patch, depth, hidden}, not %s", name, v.describe())
			continue
		}
		m := &modelDef{name: name, pos: k.pos, vals: map[string]value{}}
		for j, mk := range v.keys {
			key := mk.val.(string)
			if !slices.Contains(modelKeys, key) {
				p.unknownKey(mk, "model "+name, modelKeys)
				continue
			}
			if val, ok := p.setting(key, v.vals[j]); ok {
				m.vals[key] = val
			}
		}
		for _, key := range modelKeys {
			if v.get(key) == nil {
				p.errorf(k.pos, "model %s has no %s", name, key)
			}
		}
		pl.models[name] = m
	}
}

// setting checks one scalar value of a settings key against the registry
// (type, choices, bounds) and the plan's own rules.
func (p *parser) setting(key string, n *node) (value, bool) {
	if n.kind != kScalar {
		p.errorf(n.pos, "%s must be a single value, not %s", key, n.describe())
		return value{}, false
	}
	switch key {
	case keyModel, keyNUMA:
		s, ok := n.val.(string)
		if !ok {
			p.errorf(n.pos, "%s must be a string, not %s", key, n.describe())
			return value{}, false
		}
		if key == keyNUMA && !slices.Contains(NUMAModes, s) {
			p.errorf(n.pos, "%s %q is not one of %s", key, s, strings.Join(NUMAModes, ", "))
			return value{}, false
		}
		v := value{v: s, pos: n.pos}
		if key == keyModel {
			p.modelRefs = append(p.modelRefs, v)
		}
		return v, true
	}
	spec, _ := schemas.SettingByKey(key)
	v := n.val
	switch spec.Type {
	case schemas.TypeInt:
		switch x := v.(type) {
		case int64:
		case float64:
			if x != math.Trunc(x) || math.IsInf(x, 0) || math.IsNaN(x) {
				p.errorf(n.pos, "%s must be an integer, not %s", key, n.describe())
				return value{}, false
			}
			v = int64(x)
		default:
			p.errorf(n.pos, "%s must be an integer, not %s", key, n.describe())
			return value{}, false
		}
		i := v.(int64)
		if i > math.MaxInt32 {
			p.errorf(n.pos, "%s %d is too large", key, i)
			return value{}, false
		}
		if chk := extraChecks[key]; chk != nil {
			if msg := chk(i); msg != "" {
				p.errorf(n.pos, "%s %d: %s", key, i, msg)
				return value{}, false
			}
		}
	case schemas.TypeFloat:
		switch x := v.(type) {
		case int64:
			v = float64(x)
		case float64:
		default:
			p.errorf(n.pos, "%s must be a number, not %s", key, n.describe())
			return value{}, false
		}
	case schemas.TypeBool:
		if _, ok := v.(bool); !ok {
			p.errorf(n.pos, "%s must be true or false, not %s", key, n.describe())
			return value{}, false
		}
	default:
		if _, ok := v.(string); !ok {
			p.errorf(n.pos, "%s must be a string, not %s", key, n.describe())
			return value{}, false
		}
	}
	if err := spec.Check(v); err != nil {
		if _, isStr := v.(string); isStr {
			p.errorf(n.pos, "%s %s", key, err)
		} else {
			p.errorf(n.pos, "%s %v: %s", key, v, err)
		}
		return value{}, false
	}
	return value{v: v, pos: n.pos}, true
}

// settingsMap reads a mapping of settings keys to single values.
func (p *parser) settingsMap(n *node, where string) map[string]value {
	out := map[string]value{}
	if n.kind == kNull {
		return out
	}
	if n.kind != kMap {
		p.errorf(n.pos, "%s must be a mapping of settings, not %s", where, n.describe())
		return out
	}
	for i, k := range n.keys {
		key := k.val.(string)
		if !isSettingKey(key) {
			p.unknownKey(k, where, settingKeys)
			continue
		}
		if v, ok := p.setting(key, n.vals[i]); ok {
			out[key] = v
		}
	}
	return out
}

// matchMap reads a condition: each key maps to one value or a list of them.
func (p *parser) matchMap(n *node, where string) match {
	m := match{pos: n.pos, conds: map[string][]value{}}
	if n.kind != kMap {
		p.errorf(n.pos, "%s must be a mapping of settings, not %s", where, n.describe())
		return m
	}
	for i, k := range n.keys {
		key := k.val.(string)
		if !isSettingKey(key) {
			p.unknownKey(k, where, settingKeys)
			continue
		}
		v := n.vals[i]
		items := []*node{v}
		if v.kind == kSeq {
			items = v.items
			if len(items) == 0 {
				p.errorf(v.pos, "%s: %s has an empty list", where, key)
			}
		}
		for _, it := range items {
			if val, ok := p.setting(key, it); ok {
				m.conds[key] = append(m.conds[key], val)
			}
		}
	}
	if len(n.keys) == 0 {
		p.errorf(n.pos, "%s is empty (it would match every configuration)", where)
	}
	return m
}

func (p *parser) block(n *node, where string, top bool) *block {
	b := &block{pos: n.pos}
	if v := n.get("description"); v != nil && !top {
		b.description = p.str(v, "description")
	}
	if v := n.get("repeats"); v != nil {
		if v.kind == kScalar {
			if i, ok := v.val.(int64); ok && i >= 1 && i <= MaxRuns {
				b.repeats = &value{v: i, pos: v.pos}
			}
		}
		if b.repeats == nil {
			p.errorf(v.pos, "repeats must be an integer from 1 to %d, not %s", MaxRuns, v.describe())
		}
	}
	if v := n.get("allow_few_repeats"); v != nil {
		if bv, ok := v.val.(bool); ok && v.kind == kScalar {
			b.allowFew = &value{v: bv, pos: v.pos}
		} else {
			p.errorf(v.pos, "allow_few_repeats must be true or false, not %s", v.describe())
		}
	}
	if v := n.get("order_seed"); v != nil {
		if i, ok := v.val.(int64); ok && v.kind == kScalar && i >= 0 {
			b.orderSeed = &value{v: i, pos: v.pos}
		} else {
			p.errorf(v.pos, "order_seed must be an integer >= 0 (0 keeps the plan's order), not %s", v.describe())
		}
	}
	if v := n.get("trace_repeats"); v != nil {
		if i, ok := v.val.(int64); ok && v.kind == kScalar && i >= 0 {
			b.traceRepeats = &value{v: i, pos: v.pos}
		} else {
			p.errorf(v.pos, "trace_repeats must be an integer >= 0 (0 traces every repeat), not %s", v.describe())
		}
	}
	if v := n.get("timeout"); v != nil {
		s, ok := v.val.(string)
		d, err := time.ParseDuration(s)
		switch {
		case !ok || v.kind != kScalar:
			p.errorf(v.pos, "timeout must be a duration such as 10m, not %s", v.describe())
		case err != nil:
			p.errorf(v.pos, "timeout %q is not a duration (e.g. 90s, 10m, 1h)", s)
		case d < time.Second:
			p.errorf(v.pos, "timeout %s is shorter than 1s", d)
		default:
			b.timeout = &value{v: s, pos: v.pos}
			b.timeoutDur = d
		}
	}
	if v := n.get("defaults"); v != nil {
		b.defaults = p.settingsMap(v, where+" defaults")
	}
	if v := n.get("matrix"); v != nil {
		b.hasMatrix = true
		b.matrix = p.matrix(v, where+" matrix")
	}
	if v := n.get("include"); v != nil {
		b.hasInclude = true
		for _, it := range p.list(v, where+" include") {
			b.include = append(b.include, entry{pos: it.pos, vals: p.settingsMap(it, where+" include item")})
		}
	}
	if v := n.get("exclude"); v != nil {
		b.hasExclude = true
		for _, it := range p.list(v, where+" exclude") {
			b.exclude = append(b.exclude, p.matchMap(it, where+" exclude item"))
		}
	}
	if v := n.get("overrides"); v != nil {
		b.hasOverride = true
		for _, it := range p.list(v, where+" overrides") {
			b.overrides = append(b.overrides, p.override(it, where+" override"))
		}
	}
	return b
}

func (p *parser) list(n *node, where string) []*node {
	if n.kind == kNull {
		return nil
	}
	if n.kind != kSeq {
		p.errorf(n.pos, "%s must be a list, not %s", where, n.describe())
		return nil
	}
	return n.items
}

func (p *parser) matrix(n *node, where string) []axis {
	if n.kind == kNull {
		return nil
	}
	if n.kind != kMap {
		p.errorf(n.pos, "%s must be a mapping of setting to list of values, not %s", where, n.describe())
		return nil
	}
	var out []axis
	for i, k := range n.keys {
		key := k.val.(string)
		if !isSettingKey(key) {
			p.unknownKey(k, where, settingKeys)
			continue
		}
		v := n.vals[i]
		items := []*node{v}
		if v.kind == kSeq {
			items = v.items
		}
		if len(items) == 0 {
			p.errorf(v.pos, "matrix axis %s has no values", key)
			continue
		}
		ax := axis{key: key, pos: k.pos}
		seen := map[any]Pos{}
		for _, it := range items {
			val, ok := p.setting(key, it)
			if !ok {
				continue
			}
			if first, dup := seen[val.v]; dup {
				p.errorf(it.pos, "matrix axis %s repeats %s (first at line %d)", key, val.text(), first.Line)
				continue
			}
			seen[val.v] = it.pos
			ax.values = append(ax.values, val)
		}
		out = append(out, ax)
	}
	return out
}

func (p *parser) override(n *node, where string) override {
	o := override{pos: n.pos}
	if n.kind != kMap {
		p.errorf(n.pos, "%s must be a mapping {when: …, set: …}, not %s", where, n.describe())
		return o
	}
	allowed := []string{"when", "set"}
	for _, k := range n.keys {
		if !slices.Contains(allowed, k.val.(string)) {
			p.unknownKey(k, where, allowed)
		}
	}
	if w := n.get("when"); w != nil {
		o.when = p.matchMap(w, where+" when")
	} else {
		p.errorf(n.pos, "%s has no when (use defaults to set a value everywhere)", where)
	}
	if s := n.get("set"); s != nil {
		o.set = p.settingsMap(s, where+" set")
		if v, ok := o.set["model"]; ok {
			p.errorf(v.pos, "an override cannot set model; put the model in the matrix or include")
			delete(o.set, "model")
		}
		if s.kind == kMap && len(s.keys) == 0 {
			p.errorf(s.pos, "%s set is empty", where)
		}
	} else {
		p.errorf(n.pos, "%s has no set", where)
	}
	return o
}

// Profiles returns the plan's profile names in file order. The profile
// "full" is always accepted: without a profiles entry it is the plan as
// written.
func (p *Plan) Profiles() []string {
	out := slices.Clone(p.profileOrder)
	if !slices.Contains(out, "full") {
		out = append(out, "full")
	}
	return out
}
