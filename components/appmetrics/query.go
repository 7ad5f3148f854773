package appmetrics

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/parser/posrange"
)

// metricName is Prometheus' classic metric name syntax, the one the adapter and the HPA can name
// without quoting.
var metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

// reservedPrefixes are the name spaces of series other than the app's that the stack's own rules and
// panels read: Prometheus' per-target series (the stack alerts on `up`), and the exporters it scrapes.
// A recorded series of the same name would be read by those rules as if it were theirs.
var reservedPrefixes = []string{"scrape_", "kube_", "kubelet_", "container_", "prometheus_", "alertmanager_"}

// checkMetricName checks the syntax of a scaling metric's name.
func checkMetricName(name string) error {
	switch {
	case name == "":
		return errors.New("the name is empty")
	case !metricName.MatchString(name):
		return fmt.Errorf("%q is not a valid Prometheus metric name (letters, digits, '_' and ':', not starting with a digit)", name)
	case strings.HasPrefix(name, "__"):
		return fmt.Errorf("%q starts with __, which Prometheus reserves for its own labels and names", name)
	}
	return nil
}

// ValidateName checks the name a stack gives its own scaling metric: a Prometheus metric name that
// records a series of its own, so neither a built-in metric (name that in customMetrics without a
// definition) nor one of the series the app or the stack's exporters write.
func ValidateName(name string) error {
	if err := checkMetricName(name); err != nil {
		return err
	}
	if slices.Contains(Names(), name) {
		return fmt.Errorf("%q is a built-in scaling metric: name it in app.autoscaling.customMetrics without a definition, or pick another name", name)
	}
	for _, series := range []string{RequestsTotal, RequestDuration, RequestDuration + "_bucket", RequestDuration + "_sum", RequestDuration + "_count"} {
		if name == series {
			return fmt.Errorf("%q is one of the app's own series: the recorded metric would mix with it; pick another name", name)
		}
	}
	if name == "up" {
		return fmt.Errorf(`"up" is the series Prometheus writes for every target; pick another name`)
	}
	for _, prefix := range reservedPrefixes {
		if strings.HasPrefix(name, prefix) {
			return fmt.Errorf("%q starts with %s, the name space of series the monitoring stack's own rules read; pick another name", name, prefix)
		}
	}
	return nil
}

// ValidateUnit checks a panel's Grafana unit id lightly: Grafana's list of units is long and grows, and
// an id it does not know only shows the number plain, so anything that looks like an id passes.
func ValidateUnit(unit string) error {
	if unit == "" || strings.ContainsFunc(unit, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("%q is not a Grafana unit id (e.g. short, reqps, s, percentunit, bytes)", unit)
	}
	return nil
}

// Sample label values that stand for the app's while a query is checked: anything would do, since
// Prometheus is never asked; they only have to be recognisable in the parsed selectors.
const (
	sampleJob       = "appmetrics_sample_job"
	sampleNamespace = "appmetrics_sample_namespace"
)

// sampleSelector is what Placeholder becomes while a query is checked: the same shape as the matchers
// the program substitutes (rules.go).
var sampleSelector = fmt.Sprintf(`job=%q, namespace=%q`, sampleJob, sampleNamespace)

// perPodAggregators keep exactly one series per group. topk, bottomk, limitk and limit_ratio return
// the input series with all their labels, and count_values adds one: several series per pod.
var perPodAggregators = []parser.ItemType{
	parser.SUM, parser.AVG, parser.MIN, parser.MAX, parser.COUNT, parser.GROUP, parser.STDDEV, parser.STDVAR, parser.QUANTILE,
}

// ValidateQuery checks the recording query of the scaling metric name before anything is deployed,
// with the PromQL parser of the Prometheus release the stack runs:
//   - it contains Placeholder, and parses once Placeholder is replaced by the app's label matchers;
//   - it is an instant vector;
//   - it yields one series per pod: its outermost expression (parentheses aside) is an aggregation
//     `by (namespace, pod)`, exactly those labels, or a binary operation between two expressions that
//     each are (a ratio), or between one that is and a scalar (a unit conversion). The adapter maps a
//     series to its pod through those two labels; any other label would give a pod several values;
//   - every series selector in it carries Placeholder, so it reads the app's series and no other app's;
//   - it does not read the series it records.
//
// The error lists every problem found, positions counted in the query as written.
func ValidateQuery(name, query string) error {
	if strings.TrimSpace(query) == "" {
		return errors.New("is empty; write a PromQL expression over the app's series, e.g. sum by (namespace, pod) (rate(" + RequestsTotal + "{" + Placeholder + `, path="/work"}[2m]))`)
	}
	if !strings.Contains(query, Placeholder) {
		return fmt.Errorf("does not contain %s, which stands for the label matchers of the app's series; select them with {%s, ...}", Placeholder, Placeholder)
	}
	t := expand(query, sampleSelector)
	expr, err := parser.ParseExpr(t.expanded)
	if err != nil {
		return fmt.Errorf("is not valid PromQL: %w", t.parseError(err))
	}
	if typ := expr.Type(); typ != parser.ValueTypeVector {
		hint := ""
		if typ == parser.ValueTypeMatrix {
			hint = "; turn it into a rate with rate(...) and aggregate it by (namespace, pod)"
		}
		return fmt.Errorf("is a %s, not an instant vector%s", typeName(typ), hint)
	}
	var problems []string
	if p := perPod(expr); p != "" {
		problems = append(problems, p)
	}
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		if !selectsApp(vs) {
			problems = append(problems, fmt.Sprintf("the selector %s at %s lacks %s: every selector must read the app's series only", t.text(vs.PosRange), t.position(vs.PosRange), Placeholder))
		}
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName && m.Type == labels.MatchEqual && m.Value == name && name != "" {
				problems = append(problems, fmt.Sprintf("the selector %s at %s reads %s, the series this query records", t.text(vs.PosRange), t.position(vs.PosRange), name))
			}
		}
		return nil
	})
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// selectsApp says whether a selector carries the matchers Placeholder stands for. Matchers are ANDed,
// so with these two any others can only narrow the selection.
func selectsApp(vs *parser.VectorSelector) bool {
	var job, namespace bool
	for _, m := range vs.LabelMatchers {
		if m.Type != labels.MatchEqual {
			continue
		}
		job = job || (m.Name == "job" && m.Value == sampleJob)
		namespace = namespace || (m.Name == "namespace" && m.Value == sampleNamespace)
	}
	return job && namespace
}

// perPod returns why expr does not yield one series per (namespace, pod), or "" if it does.
func perPod(expr parser.Expr) string {
	expr = unparen(expr)
	switch e := expr.(type) {
	case *parser.AggregateExpr:
		op := e.Op.String()
		if e.Without {
			return fmt.Sprintf("%s aggregates without (%s): what is left depends on the series' labels; aggregate by (namespace, pod)", op, strings.Join(e.Grouping, ", "))
		}
		if !slices.Contains(perPodAggregators, e.Op) {
			return fmt.Sprintf("%s keeps several series per group; use sum, avg, min, max, count, group, stddev, stdvar or quantile by (namespace, pod)", op)
		}
		if grouping := slices.Compact(slices.Sorted(slices.Values(e.Grouping))); !slices.Equal(grouping, []string{"namespace", "pod"}) {
			return fmt.Sprintf("%s groups by (%s); group by exactly (namespace, pod): the adapter finds each pod's value through those two labels", op, strings.Join(e.Grouping, ", "))
		}
		return ""
	case *parser.BinaryExpr:
		// A scalar operand (a number, scalar(...), time()) keeps the other side's labels.
		if e.LHS.Type() == parser.ValueTypeScalar {
			return perPod(e.RHS)
		}
		if e.RHS.Type() == parser.ValueTypeScalar {
			return perPod(e.LHS)
		}
		for _, side := range []struct {
			where string
			expr  parser.Expr
		}{{"left", e.LHS}, {"right", e.RHS}} {
			if p := perPod(side.expr); p != "" {
				return fmt.Sprintf("%s of %s: %s", side.where, e.Op, p)
			}
		}
		return matchingProblem(e)
	default:
		return fmt.Sprintf("the outermost expression is %s; it must be an aggregation by (namespace, pod), or a binary operation between two such, "+
			"so that it records one series per pod: wrap it, e.g. max by (namespace, pod) (...)", describe(expr))
	}
}

// matchingProblem checks the vector matching of a binary operation between two per-pod vectors. Set
// operators (and, or, unless) return their operands' series unchanged; the others return series with
// the matched labels only (on) or without the ignored ones (ignoring), so those must keep namespace and
// pod. group_left and group_right are never needed between two per-pod vectors, and add labels.
func matchingProblem(e *parser.BinaryExpr) string {
	vm := e.VectorMatching
	if vm == nil || e.Op.IsSetOperator() {
		return ""
	}
	if vm.Card != parser.CardOneToOne {
		return fmt.Sprintf("%s matches %s (group_left or group_right); both sides are per pod, so match them one to one", e.Op, vm.Card)
	}
	keeps := func(l string) bool { return slices.Contains(vm.MatchingLabels, l) == vm.On }
	if !keeps("namespace") || !keeps("pod") {
		kind := "ignoring"
		if vm.On {
			kind = "on"
		}
		return fmt.Sprintf("%s %s (%s) drops namespace or pod from the result; match on (namespace, pod) or leave the matching out", e.Op, kind, strings.Join(vm.MatchingLabels, ", "))
	}
	return ""
}

func unparen(expr parser.Expr) parser.Expr {
	for {
		p, ok := expr.(*parser.ParenExpr)
		if !ok {
			return expr
		}
		expr = p.Expr
	}
}

// describe names an expression's kind for an error message.
func describe(expr parser.Expr) string {
	switch e := expr.(type) {
	case *parser.Call:
		return fmt.Sprintf("a call of %s()", e.Func.Name)
	case *parser.VectorSelector:
		return "a bare selector"
	case *parser.UnaryExpr:
		return "a negation"
	case *parser.SubqueryExpr:
		return "a subquery"
	default:
		return "an expression of type " + typeName(expr.Type())
	}
}

func typeName(t parser.ValueType) string {
	switch t {
	case parser.ValueTypeVector:
		return "instant vector"
	case parser.ValueTypeMatrix:
		return "range vector"
	case parser.ValueTypeScalar:
		return "scalar"
	case parser.ValueTypeString:
		return "string"
	}
	return string(t)
}

// template is a query with Placeholder replaced, and the way back from a position in the expanded
// text to the query as written, so that messages point where the user wrote something.
type template struct {
	original, expanded string
	// at holds the offset of each Placeholder in original; each grew by shift in expanded.
	at    []int
	shift int
}

func expand(query, selector string) template {
	t := template{original: query, expanded: strings.ReplaceAll(query, Placeholder, selector), shift: len(selector) - len(Placeholder)}
	for from := 0; ; {
		i := strings.Index(query[from:], Placeholder)
		if i < 0 {
			break
		}
		t.at = append(t.at, from+i)
		from += i + len(Placeholder)
	}
	return t
}

// toOriginal maps an offset in expanded to one in original; an offset inside a substitution maps to
// its Placeholder.
func (t template) toOriginal(p posrange.Pos) posrange.Pos {
	pos := int(p)
	for i, o := range t.at {
		start := o + i*t.shift
		if pos < start {
			return posrange.Pos(pos - i*t.shift)
		}
		if pos < start+len(Placeholder)+t.shift {
			return posrange.Pos(o)
		}
	}
	return posrange.Pos(min(max(pos-len(t.at)*t.shift, 0), len(t.original)))
}

// back maps a range of expanded to original.
func (t template) back(r posrange.PositionRange) posrange.PositionRange {
	return posrange.PositionRange{Start: t.toOriginal(r.Start), End: t.toOriginal(r.End)}
}

// position is a range's start as line:column of the query as written.
func (t template) position(r posrange.PositionRange) string {
	return t.back(r).StartPosInput(t.original, 0)
}

// text is the query as written over a range of the expanded one.
func (t template) text(r posrange.PositionRange) string {
	o := t.back(r)
	if o.Start < 0 || o.End > posrange.Pos(len(t.original)) || o.Start >= o.End {
		return "(unknown)"
	}
	return strings.TrimSpace(t.original[o.Start:o.End])
}

// parseError rewrites the parser's errors to point into the query as written; it keeps the first, as
// the parser's own message does.
func (t template) parseError(err error) error {
	var errs parser.ParseErrors
	if !errors.As(err, &errs) || len(errs) == 0 {
		return err
	}
	e := errs[0]
	e.Query = t.original
	e.PositionRange = t.back(e.PositionRange)
	return &e
}
