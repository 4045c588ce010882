// Package grafana checks the Grafana dashboard against the metrics warden
// registers. It holds tests only.
package grafana

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"warden/watchdog"
)

// The datasource every panel, target, variable and annotation reads: the
// input Grafana asks for on import.
const datasource = "${DS_PROMETHEUS}"

type dashboard struct {
	Inputs []struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		PluginID string `json:"pluginId"`
	} `json:"__inputs"`
	SchemaVersion int      `json:"schemaVersion"`
	Title         string   `json:"title"`
	UID           string   `json:"uid"`
	Panels        []*panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Datasource *source         `json:"datasource"`
			Query      json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Name       string  `json:"name"`
			BuiltIn    int     `json:"builtIn"`
			Datasource *source `json:"datasource"`
			Expr       string  `json:"expr"`
		} `json:"list"`
	} `json:"annotations"`
}

type source struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int     `json:"id"`
	Type       string  `json:"type"`
	Title      string  `json:"title"`
	Datasource *source `json:"datasource"`
	GridPos    struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets []struct {
		RefID      string  `json:"refId"`
		Expr       string  `json:"expr"`
		Datasource *source `json:"datasource"`
	} `json:"targets"`
	// Panels are those of a collapsed row.
	Panels []*panel `json:"panels"`
}

func load(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("warden.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("warden.json: %v", err)
	}
	return d
}

// all returns every panel, those inside collapsed rows included.
func (d dashboard) all() []*panel {
	var out []*panel
	var walk func([]*panel)
	walk = func(ps []*panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

func isPrometheus(s *source) bool { return s != nil && s.Type == "prometheus" && s.UID == datasource }

var (
	quoted    = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	variable  = regexp.MustCompile(`\$\{[^}]*\}|\$\w+`)
	labelList = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	matchers  = regexp.MustCompile(`\{[^}]*\}`)
	ranges    = regexp.MustCompile(`\[[^\]]*\]`)
	token     = regexp.MustCompile(`[0-9][0-9A-Za-z_.]*|[A-Za-z_:][A-Za-z0-9_:]*`)
	keywords  = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
		"inf": true, "nan": true, "by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}
)

// metricNames returns the metric names a PromQL expression selects: the
// identifiers left once strings, Grafana variables, label lists, label
// matchers and ranges are taken out, that are neither keywords, numbers
// nor called (functions and aggregations).
func metricNames(expr string) []string {
	s := quoted.ReplaceAllString(expr, " ")
	s = variable.ReplaceAllString(s, " ")
	s = labelList.ReplaceAllString(s, " ")
	s = matchers.ReplaceAllString(s, " ")
	s = ranges.ReplaceAllString(s, " ")
	var out []string
	for _, loc := range token.FindAllStringIndex(s, -1) {
		tok := s[loc[0]:loc[1]]
		if tok[0] >= '0' && tok[0] <= '9' || keywords[strings.ToLower(tok)] {
			continue
		}
		if rest := strings.TrimLeft(s[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") {
			continue
		}
		out = append(out, tok)
	}
	return out
}

func TestMetricNamesOfExpressions(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
	}{
		{`warden_raft_term`, []string{"warden_raft_term"}},
		{`histogram_quantile(0.99, sum by (le, node) (rate(warden_probe_latency_seconds_bucket{instance=~"$instance"}[$__rate_interval])))`,
			[]string{"warden_probe_latency_seconds_bucket"}},
		{`max by (group) (warden_node_health{group=~"${group}"} and on (instance) (warden_raft_state{state="Leader"} == 1)) > 0`,
			[]string{"warden_node_health", "warden_raft_state"}},
		{`sum(rate(a_total[5m] offset 1h)) without (x) / ignoring(y) group_left (z) b * 1e3 or vector(0)`, []string{"a_total", "b"}},
		{`count(x{l="a b (c)"} < 1) or vector (0)`, []string{"x"}},
	} {
		if got := metricNames(c.expr); strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("metricNames(%s) = %v, want %v", c.expr, got, c.want)
		}
	}
}

// registered reports whether name is a series of a registered family:
// the family itself, or a histogram's or summary's _bucket, _sum, _count.
func registered(families map[string]bool, name string) bool {
	if families[name] {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && families[base] {
			return true
		}
	}
	return false
}

func TestDashboard(t *testing.T) {
	d := load(t)
	if d.Title == "" || d.UID == "" {
		t.Errorf("title %q, uid %q: both needed", d.Title, d.UID)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d, want 36 or later (datasources by uid)", d.SchemaVersion)
	}
	if len(d.Inputs) != 1 || "${"+d.Inputs[0].Name+"}" != datasource || d.Inputs[0].Type != "datasource" || d.Inputs[0].PluginID != "prometheus" {
		t.Errorf("__inputs %+v, want one Prometheus datasource input named DS_PROMETHEUS", d.Inputs)
	}

	families := map[string]bool{}
	for _, n := range watchdog.MetricNames() {
		families[n] = true
	}
	used := map[string]bool{}
	checkExpr := func(where, expr string) {
		names := metricNames(expr)
		if len(names) == 0 {
			t.Errorf("%s: no metric in %q", where, expr)
		}
		for _, n := range names {
			used[n] = true
			if !registered(families, n) {
				t.Errorf("%s: %s is not a metric warden registers (in %q)", where, n, expr)
			}
		}
	}
	vars := map[string]bool{"__rate_interval": true, "__range": true, "__interval": true}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	checkVars := func(where, expr string) {
		for _, v := range variable.FindAllString(expr, -1) {
			if name := strings.Trim(v, "${}"); !vars[name] {
				t.Errorf("%s: variable %s is not defined", where, v)
			}
		}
	}

	ids := map[int]string{}
	rows := 0
	var placed []*panel
	for _, p := range d.all() {
		where := p.Type + " " + p.Title
		if p.Title == "" {
			t.Errorf("panel %d (%s) has no title", p.ID, p.Type)
		}
		if prev, dup := ids[p.ID]; dup || p.ID <= 0 {
			t.Errorf("%s: id %d is not unique and positive (also %s)", where, p.ID, prev)
		}
		ids[p.ID] = where
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v outside the 24 columns", where, g)
		}
		for _, o := range placed {
			h := o.GridPos
			if g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
				t.Errorf("%s overlaps %s %s", where, o.Type, o.Title)
			}
		}
		placed = append(placed, p)
		if p.Type == "row" {
			// A row shows no data: it has a title, no datasource.
			rows++
			continue
		}
		if !isPrometheus(p.Datasource) {
			t.Errorf("%s: datasource %+v, want the %s input", where, p.Datasource, datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no query", where)
		}
		refs := map[string]bool{}
		for _, q := range p.Targets {
			if q.Datasource != nil && !isPrometheus(q.Datasource) {
				t.Errorf("%s: target %s reads %+v", where, q.RefID, q.Datasource)
			}
			if q.RefID == "" || refs[q.RefID] {
				t.Errorf("%s: refId %q missing or repeated", where, q.RefID)
			}
			refs[q.RefID] = true
			checkExpr(where, q.Expr)
			checkVars(where, q.Expr)
		}
	}
	if rows != 7 {
		t.Errorf("%d rows, want 7 (watchdog group, failovers, probes, node health, clusters, operations, webhooks)", rows)
	}

	labelValues := regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)
	for _, want := range []string{"instance", "group"} {
		if !vars[want] {
			t.Errorf("no template variable %s", want)
		}
	}
	for _, v := range d.Templating.List {
		where := "variable " + v.Name
		if v.Type != "query" || !isPrometheus(v.Datasource) {
			t.Errorf("%s: type %q, datasource %+v, want a query of the %s input", where, v.Type, v.Datasource, datasource)
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			if err := json.Unmarshal(v.Query, &q.Query); err != nil {
				t.Errorf("%s: query %s", where, v.Query)
			}
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Errorf("%s: query %q, want label_values(metric, label)", where, q.Query)
			continue
		}
		checkExpr(where, m[1])
	}
	for _, a := range d.Annotations.List {
		if a.BuiltIn == 1 {
			continue
		}
		where := "annotation " + a.Name
		if !isPrometheus(a.Datasource) {
			t.Errorf("%s: datasource %+v", where, a.Datasource)
		}
		checkExpr(where, a.Expr)
		checkVars(where, a.Expr)
	}

	var unused []string
	for n := range families {
		if strings.HasPrefix(n, "warden_") && !used[n] && !used[n+"_bucket"] && !used[n+"_sum"] {
			unused = append(unused, n)
		}
	}
	sort.Strings(unused)
	if len(unused) > 0 {
		t.Logf("warden metrics the dashboard does not show: %s", strings.Join(unused, ", "))
	}
}
