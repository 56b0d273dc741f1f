package plan

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"vitlab/collectors/batchdir"
	"vitlab/schemas"
)

// DefaultRepeats is how many times each configuration runs unless the plan
// says otherwise. Fewer than MinRepeats needs allow_few_repeats: true.
const (
	DefaultRepeats = 3
	MinRepeats     = 3
)

// builtin are the values of keys a plan leaves unset: the registry's
// default of every setting a plan may set (except the architecture, which
// a plan must give: required), and numa none. queue_depth defaults to 1 for
// sync pipelines only; an async pipeline must name its depth.
var builtin = func() map[string]any {
	m := map[string]any{keyNUMA: "none"}
	for _, s := range schemas.Settings() {
		if s.Plannable() && s.Default != nil && !slices.Contains(required, s.Key) {
			m[s.Key] = s.Default
		}
	}
	return m
}()

// MaxRuns bounds an expansion, so a mistaken matrix is refused instead of
// exhausting memory.
const MaxRuns = 100000

// required keys every configuration must end up with.
var required = []string{"patch", "depth", "hidden", "resolution", "batch_size"}

// Run is one run of an expanded plan: one configuration, one repeat.
type Run struct {
	// ID names the run directory; a safe file name, unique in the batch.
	ID string
	// Name is the configuration's name: ID without the repeat.
	Name   string
	Repeat int
	RQ     string
	// Model is the plan's model name (from models), "" if none was used.
	Model string
	// NUMA is the requested placement: none, local or remote.
	NUMA string
	// Traced says the run has a traced phase (nsys) after its clean one;
	// false for repeats beyond the plan's trace_repeats.
	Traced bool
	// Settings are the requested workload settings.
	Settings batchdir.Settings

	// head and tail are the ID's tokens before and after the numa token
	// (WithPlacement rebuilds the ID around another one).
	head, tail []string
}

// NUMAToken is the run-ID token of a placement word: "n" + word.
func NUMAToken(word string) string { return "n" + word }

// WithPlacement returns the run with its ID and name saying placement word
// (none, local, remote, unavailable …) instead of the requested numa mode:
// the runner names runs after what the host really gave.
func (r Run) WithPlacement(word string) Run {
	if r.head == nil {
		return r
	}
	r.Name = strings.Join(append(append(slices.Clone(r.head), NUMAToken(word)), r.tail...), "-")
	r.ID = fmt.Sprintf("%s-r%d", r.Name, r.Repeat)
	return r
}

// Expansion is a plan expanded for one profile.
type Expansion struct {
	Plan        string
	Profile     string
	RQ          string
	Description string
	Labels      map[string]string
	Repeats     int
	// Timeout is the plan's per-run timeout; 0 when the plan sets none.
	Timeout time.Duration
	// Configs is the number of distinct configurations.
	Configs int
	// Merged counts configurations dropped because an identical one was
	// already in the expansion (e.g. an include item equal to a matrix point).
	Merged int
	// Runs are ordered repeat by repeat: every configuration's first
	// repeat, then every second one, and so on; inside each round the
	// configurations come in a seeded random order (OrderSeed).
	Runs []Run
	// OrderSeed is the seed of the run order inside each repeat round
	// (Shuffle); 0 keeps the plan's order (matrix, then include).
	OrderSeed int64
	// TraceRepeats is how many repeats of each configuration run under
	// nsys (repeats 1..TraceRepeats; SetTraceRepeats); 0 traces them all.
	TraceRepeats int
	// planOrder is Runs in the plan's order, kept by the first Shuffle.
	planOrder []Run
}

// effective merges the base block with a profile's block.
func (p *Plan) effective(profile string) (*block, error) {
	prof, ok := p.profiles[profile]
	if !ok {
		if profile == "full" {
			return p.base, nil
		}
		return nil, fmt.Errorf("%s: plan %s has no profile %q (have %s)", p.File, p.Name, profile, strings.Join(p.Profiles(), ", "))
	}
	b := *p.base
	b.pos = prof.pos
	b.description = prof.description
	if prof.repeats != nil {
		b.repeats = prof.repeats
	}
	if prof.allowFew != nil {
		b.allowFew = prof.allowFew
	}
	if prof.timeout != nil {
		b.timeout, b.timeoutDur = prof.timeout, prof.timeoutDur
	}
	if prof.orderSeed != nil {
		b.orderSeed = prof.orderSeed
	}
	if prof.traceRepeats != nil {
		b.traceRepeats = prof.traceRepeats
	}
	if prof.defaults != nil {
		b.defaults = map[string]value{}
		maps.Copy(b.defaults, p.base.defaults)
		maps.Copy(b.defaults, prof.defaults)
	}
	if prof.hasMatrix {
		b.matrix = slices.Clone(p.base.matrix)
		for _, ax := range prof.matrix {
			i := slices.IndexFunc(b.matrix, func(a axis) bool { return a.key == ax.key })
			if i >= 0 {
				b.matrix[i] = ax
			} else {
				b.matrix = append(b.matrix, ax)
			}
		}
	}
	if prof.hasInclude {
		b.include = prof.include
	}
	if prof.hasExclude {
		b.exclude = prof.exclude
	}
	if prof.hasOverride {
		b.overrides = prof.overrides
	}
	return &b, nil
}

// point is one configuration being built.
type point struct {
	vals map[string]value
	pos  Pos
	// fromMatrix: exclude applies only to matrix points.
	fromMatrix bool
}

func (pt point) get(key string) (value, bool) {
	v, ok := pt.vals[key]
	return v, ok && v.set()
}

type expander struct {
	plan *Plan
	b    *block
	errs ErrorList
}

func (x *expander) errorf(pos Pos, format string, args ...any) {
	x.errs = append(x.errs, &Error{File: x.plan.File, Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// build makes a point: defaults, then the model's architecture, then the
// explicit values of a matrix point or include item.
func (x *expander) build(explicit map[string]value, pos Pos, fromMatrix bool) point {
	pt := point{vals: map[string]value{}, pos: pos, fromMatrix: fromMatrix}
	maps.Copy(pt.vals, x.b.defaults)
	model, ok := explicit["model"]
	if !ok {
		model, ok = pt.vals["model"]
	}
	if ok {
		if m := x.plan.models[model.str()]; m != nil {
			maps.Copy(pt.vals, m.vals)
		}
	}
	maps.Copy(pt.vals, explicit)
	return pt
}

func (m match) matches(pt point) bool {
	for key, want := range m.conds {
		got, ok := pt.get(key)
		if !ok || !slices.ContainsFunc(want, func(w value) bool { return w.v == got.v }) {
			return false
		}
	}
	return true
}

// points returns the configurations of the block, before validation.
func (x *expander) points() []point {
	var pts []point
	axes := x.b.matrix
	if len(axes) > 0 {
		idx := make([]int, len(axes))
		for {
			explicit := map[string]value{}
			for i, ax := range axes {
				if len(ax.values) == 0 {
					return nil // the axis had only bad values, already reported
				}
				explicit[ax.key] = ax.values[idx[i]]
			}
			pts = append(pts, x.build(explicit, axes[0].pos, true))
			// Advance the odometer: the last axis varies fastest.
			i := len(axes) - 1
			for ; i >= 0; i-- {
				idx[i]++
				if idx[i] < len(axes[i].values) {
					break
				}
				idx[i] = 0
			}
			if i < 0 {
				break
			}
		}
	} else if len(x.b.include) == 0 {
		pts = append(pts, x.build(nil, x.b.pos, true))
	}
	for _, e := range x.b.include {
		pts = append(pts, x.build(e.vals, e.pos, false))
	}
	return pts
}

// finish fills built-in values, applies overrides and exclude; it reports
// whether the point stays.
func (x *expander) finish(pt point) bool {
	for k, v := range builtin {
		if _, ok := pt.get(k); !ok {
			pt.vals[k] = value{v: v}
		}
	}
	for _, o := range x.b.overrides {
		if o.when.matches(pt) {
			maps.Copy(pt.vals, o.set)
		}
	}
	if pl, _ := pt.get("pipeline"); pl.str() == "sync" {
		if _, ok := pt.get("queue_depth"); !ok {
			pt.vals["queue_depth"] = value{v: int64(1)}
		}
	}
	if pt.fromMatrix {
		for _, e := range x.b.exclude {
			if e.matches(pt) {
				return false
			}
		}
	}
	return true
}

// at returns v's position, or the point's when v is built in.
func at(v value, pt point) Pos {
	if v.pos.Line == 0 {
		return pt.pos
	}
	return v.pos
}

func (x *expander) validate(pt point) bool {
	ok := true
	for _, k := range required {
		if _, has := pt.get(k); !has {
			x.errorf(pt.pos, "a configuration has no %s (set it in defaults, the matrix, include or a model)", k)
			ok = false
		}
	}
	if !ok {
		return false
	}
	patch, _ := pt.get("patch")
	res, _ := pt.get("resolution")
	if res.int()%patch.int() != 0 {
		x.errorf(at(res, pt), "resolution %d is not a multiple of patch %d (patch at line %d)", res.int(), patch.int(), at(patch, pt).Line)
		ok = false
	}
	if src, has := pt.get("source_resolution"); has && src.int() < 1 {
		x.errorf(at(src, pt), "source_resolution must be at least 1")
		ok = false
	}
	pl, _ := pt.get("pipeline")
	q, hasQ := pt.get("queue_depth")
	switch {
	case (pl.str() == "async" || pl.str() == "peer") && !hasQ:
		x.errorf(at(pl, pt), "pipeline %s needs a queue_depth (%s)", pl.str(), queueDepthRange())
		ok = false
	case pl.str() == "sync" && q.int() != 1:
		x.errorf(at(q, pt), "queue_depth %d needs pipeline async (this configuration is sync, pipeline at line %d)", q.int(), at(pl, pt).Line)
		ok = false
	}
	if cr, _ := pt.get("clean_repeats"); cr.int() < MinRepeats && !x.allowFew() {
		x.errorf(at(cr, pt), "clean_repeats %d is below %d; set allow_few_repeats: true to allow it", cr.int(), MinRepeats)
		ok = false
	}
	return ok
}

// queueDepthRange says which queue depths the registry allows.
func queueDepthRange() string {
	s, _ := schemas.SettingByKey("queue_depth")
	switch {
	case s.Choices != nil:
		return "one of " + s.ChoicesText()
	case s.Min != nil && s.Max != nil:
		return fmt.Sprintf("%v to %v", *s.Min, *s.Max)
	}
	return "at least 1"
}

func (x *expander) allowFew() bool {
	if x.b.allowFew == nil {
		return false
	}
	b, _ := x.b.allowFew.v.(bool)
	return b
}

// settingsOf is the request of a configuration: every registry setting
// the point has, and heads and mlp derived from hidden.
func settingsOf(pt point) batchdir.Settings {
	var out batchdir.Settings
	for _, key := range settingKeys {
		if key == keyModel || key == keyNUMA {
			continue
		}
		if v, ok := pt.get(key); ok {
			if err := out.Set(key, v.v); err != nil {
				panic(err) // values were checked against the registry's types
			}
		}
	}
	if h := out.Hidden; h != nil {
		out.Heads = batchdir.Ptr(*h / 64)
		out.MLP = batchdir.Ptr(4 * *h)
	}
	return out
}

// nameKeys are the settings always in a run ID, in order, with their
// token prefixes; the numa token follows them.
var nameKeys = []struct{ key, prefix string }{
	{"patch", "p"}, {"depth", "d"}, {"hidden", "h"}, {"resolution", "r"}, {"batch_size", "b"},
	{"compile_mode", ""}, {"pipeline", ""}, {"queue_depth", "q"}, {"preprocess", ""},
}

// tokenPrefix is the prefix of the ID token of a setting not always in the
// ID; a setting missing here gets its key without underscores.
var tokenPrefix = map[string]string{
	"dtype": "", "source_resolution": "s", "cpu_workers": "w", "warmup_batches": "wu",
	"timed_batches": "t", "clean_repeats": "c", "cpu_threads_per_worker": "tpw",
	"min_window_s": "mw", "jpeg_quality": "jq", "decoder": "dec", "resize": "rs",
	"patch_embed": "pe", "cudnn_benchmark": "cudnnbench",
}

// extraKeys are the settings not always in a run ID: one gets a token in
// every ID of an expansion where it takes more than one value, so IDs stay
// unique and short.
var extraKeys = func() []string {
	var out []string
	for _, k := range settingKeys {
		if k == keyModel || k == keyNUMA || slices.ContainsFunc(nameKeys, func(n struct{ key, prefix string }) bool { return n.key == k }) {
			continue
		}
		out = append(out, k)
	}
	return out
}()

// token is the ID token of a setting's value; "auto" when it is not set.
func token(s batchdir.Settings, key string) string {
	prefix, ok := tokenPrefix[key]
	if !ok {
		prefix = strings.ReplaceAll(key, "_", "")
	}
	v, _ := s.Get(key)
	var text string
	switch x := v.(type) {
	case nil:
		text = "auto"
	case float64:
		text = strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		text = map[bool]string{true: "on", false: "off"}[x]
	case string:
		text = x
		if key == "dtype" {
			text = dtypeToken(x)
		}
	default:
		text = fmt.Sprint(x)
	}
	return prefix + text
}

func dtypeToken(d string) string {
	switch d {
	case "bfloat16":
		return "bf16"
	case "float16":
		return "fp16"
	case "float32":
		return "fp32"
	}
	return d
}

// safeID is what every run ID must match.
var safeID = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// nameHead is the start of a run ID: the plan and the settings always in
// it; the numa token and the extras follow.
func nameHead(plan string, s batchdir.Settings) []string {
	t := []string{plan}
	for _, n := range nameKeys {
		v, _ := s.Get(n.key)
		t = append(t, n.prefix+fmt.Sprint(v))
	}
	return t
}

// Expand expands the plan for one profile. Problems with the expanded
// configurations (an impossible combination, a missing setting) come back
// as an ErrorList pointing at the values that cause them.
func (p *Plan) Expand(profile string) (*Expansion, error) {
	b, err := p.effective(profile)
	if err != nil {
		return nil, err
	}
	x := &expander{plan: p, b: b}
	repeats := DefaultRepeats
	if b.repeats != nil {
		repeats = b.repeats.int()
		if repeats < MinRepeats && !x.allowFew() {
			x.errorf(b.repeats.pos, "repeats %d is below %d; set allow_few_repeats: true to allow it", repeats, MinRepeats)
		}
	}
	type cfg struct {
		s     batchdir.Settings
		numa  string
		model string
	}
	size := 1
	for _, ax := range b.matrix {
		size *= max(len(ax.values), 1)
		if size*repeats > MaxRuns {
			return nil, ErrorList{{File: p.File, Pos: ax.pos, Msg: fmt.Sprintf("the matrix expands to more than %d runs", MaxRuns)}}
		}
	}
	if (size+len(b.include))*repeats > MaxRuns {
		return nil, ErrorList{{File: p.File, Pos: b.pos, Msg: fmt.Sprintf("the plan expands to more than %d runs", MaxRuns)}}
	}
	var cfgs []cfg
	for _, pt := range x.points() {
		if !x.finish(pt) {
			continue
		}
		if !x.validate(pt) {
			continue
		}
		numa, _ := pt.get("numa")
		model, _ := pt.get("model")
		cfgs = append(cfgs, cfg{s: settingsOf(pt), numa: numa.str(), model: model.str()})
	}
	if len(x.errs) > 0 {
		errs := sortErrors(x.errs)
		if len(errs) > 50 {
			more := len(errs) - 50
			errs = append(errs[:50], &Error{File: p.File, Pos: errs[49].Pos, Msg: fmt.Sprintf("… and %d more problems", more)})
		}
		return nil, errs
	}
	if len(cfgs) == 0 {
		return nil, ErrorList{{File: p.File, Pos: b.pos, Msg: fmt.Sprintf("profile %s expands to no runs (everything excluded?)", profile)}}
	}
	// Settings that vary in this expansion get an ID token.
	var varying []string
	for _, k := range extraKeys {
		first := token(cfgs[0].s, k)
		for _, c := range cfgs[1:] {
			if token(c.s, k) != first {
				varying = append(varying, k)
				break
			}
		}
	}
	x2 := &Expansion{
		Plan: p.Name, Profile: profile, RQ: p.RQ, Description: p.Description,
		Labels: p.Labels, Repeats: repeats, Timeout: b.timeoutDur,
	}
	if b.description != "" {
		x2.Description = b.description
	}
	type named struct {
		cfg
		name       string
		head, tail []string
	}
	var uniq []named
	seen := map[string]bool{}
	for _, c := range cfgs {
		var extras []string
		for _, k := range varying {
			extras = append(extras, token(c.s, k))
		}
		head := nameHead(p.Name, c.s)
		name := strings.Join(append(append(slices.Clone(head), NUMAToken(c.numa)), extras...), "-")
		if seen[name] {
			x2.Merged++
			continue
		}
		if !safeID.MatchString(name) {
			return nil, fmt.Errorf("%s: run id %q is not a safe file name (this is a bug)", p.File, name)
		}
		seen[name] = true
		uniq = append(uniq, named{c, name, head, extras})
	}
	x2.Configs = len(uniq)
	for r := 1; r <= repeats; r++ {
		for _, c := range uniq {
			x2.Runs = append(x2.Runs, Run{
				ID:       fmt.Sprintf("%s-r%d", c.name, r),
				Name:     c.name,
				Repeat:   r,
				RQ:       p.RQ,
				Model:    c.model,
				NUMA:     c.numa,
				Settings: c.s,
				head:     c.head,
				tail:     c.tail,
			})
		}
	}
	traceRepeats := 0
	if b.traceRepeats != nil {
		traceRepeats = b.traceRepeats.int()
	}
	x2.SetTraceRepeats(traceRepeats)
	seed := int64(DefaultOrderSeed)
	if b.orderSeed != nil {
		seed = int64(b.orderSeed.int())
	}
	x2.Shuffle(seed)
	return x2, nil
}

// SetTraceRepeats marks which runs have a traced phase: repeats 1..n of
// every configuration, or every run when n is 0 (or at least Repeats).
// The clean phase of every run measures the throughput, latency, energy
// and headroom that the statistics compare across runs; the traced phase
// adds what only a trace gives (GPU busy, kernels, copies, NVTX) and costs
// about as much again, so a plan whose claims rest on untraced metrics can
// trace fewer repeats and collect more runs per GPU-hour.
func (x *Expansion) SetTraceRepeats(n int) {
	if n >= x.Repeats {
		n = 0
	}
	x.TraceRepeats = n
	for _, rs := range [][]Run{x.Runs, x.planOrder} {
		for i := range rs {
			rs[i].Traced = n == 0 || rs[i].Repeat <= n
		}
	}
}

// DefaultOrderSeed is the run-order seed of a plan that sets no
// order_seed: the order is shuffled, and reproducible.
const DefaultOrderSeed = 1

// Shuffle puts the configurations of every repeat round in a random order
// drawn from seed (PCG seeded with (seed, round)), so that runs a claim
// compares are interleaved in one session and no configuration always runs
// first, after a compile, or at the same time into a warming card
// (Georges et al.; Kalibera & Jones). Repeat r of every configuration still
// comes before repeat r+1 of any. The order depends only on the seed and the
// configurations, so every host of a sharded batch and every --resume
// computes the same one. Seed 0 restores the plan's order (matrix, then
// include). Calling it again reorders from the plan's order.
func (x *Expansion) Shuffle(seed int64) {
	if x.planOrder == nil {
		x.planOrder = slices.Clone(x.Runs)
	}
	x.Runs = slices.Clone(x.planOrder)
	x.OrderSeed = seed
	if seed == 0 {
		return
	}
	for start := 0; start < len(x.Runs); {
		end := start
		for end < len(x.Runs) && x.Runs[end].Repeat == x.Runs[start].Repeat {
			end++
		}
		round := x.Runs[start:end]
		rng := rand.New(rand.NewPCG(uint64(seed), uint64(x.Runs[start].Repeat)))
		rng.Shuffle(len(round), func(i, j int) { round[i], round[j] = round[j], round[i] })
		start = end
	}
}

// Describe renders settings as one line of key=value pairs in registry
// order, leaving out those not set, for dry-run output and tests.
func Describe(s batchdir.Settings) string {
	var parts []string
	for _, k := range batchdir.SettingKeys() {
		if v, _ := s.Get(k); v != nil {
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	return strings.Join(parts, " ")
}
