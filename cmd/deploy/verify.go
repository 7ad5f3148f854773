package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"github.com/nexios-labs/nexios-k8s/components/appmetrics"
	nexios "github.com/nexios-labs/nexios-k8s/program"
	"github.com/nexios-labs/nexios-k8s/stacks"
)

// `up --verify` watches the release it just rolled out for app.rollout.bakeSeconds: every pod of the
// app's Deployment Ready, no container restarting and, with the bundled Prometheus, the release's
// 5xx ratio and p95 latency under the stack's own alert thresholds (monitoring.alerts). The first
// failure ends the bake: the stack is rolled back through rollback's gate and up exits 6.
//
// The metrics are the release's own: its pods' counters, summed over every pod of the Deployment now
// (a pod's counters start at zero with the pod, so a new release's figures hold only its own
// requests, and the old release's pods, gone once the rollout is done, weigh nothing). That needs one
// scrape of the new pods rather than two for a rate, which is why a bake can be as short as a minute.

// Verification tunables that are not stack keys.
const (
	// verifyInterval is how often the bake looks at the pods and Prometheus.
	verifyInterval = 10 * time.Second
	// notReadyGrace is how long a pod may stay not Ready before the release fails: a pod the HPA adds
	// during the bake needs its startup and readiness probes first.
	notReadyGrace = 45 * time.Second
	// minJudgedRequests is the least traffic whose error ratio and latency mean something: one failed
	// request out of three is not a 33% error rate anyone should roll back for.
	minJudgedRequests = 20
)

// verifyTarget is what the bake watches and the limits it holds the release to.
type verifyTarget struct {
	namespace, deployment, job string
	bake                       time.Duration
	// metrics is false without the bundled Prometheus: only the pods are judged.
	metrics       bool
	maxErrorRatio float64
	maxP95Seconds float64
}

// podState is one pod of the release as the bake sees it.
type podState struct {
	name     string
	ready    bool
	restarts int
	// why says what a not-Ready or restarting pod reports (its conditions, its containers' last state).
	why string
}

// releaseMetrics are the release's figures from Prometheus.
type releaseMetrics struct {
	requests, errors float64
	// p95 is NaN when no request has been timed.
	p95 float64
}

// releaseWatcher reads the release from the cluster; kubectlWatcher does it for real, tests fake it.
type releaseWatcher interface {
	pods(ctx context.Context) ([]podState, error)
	metrics(ctx context.Context, pods []string) (releaseMetrics, error)
}

// bake watches the release until the bake time is over or a check fails, and returns every problem
// of the observation that failed (none when the release is good). The notes are what the bake could
// not judge, for the report.
func bake(ctx context.Context, target verifyTarget, w releaseWatcher, clock func() time.Time, sleep func(context.Context, time.Duration) error, progress func(string)) (problems, notes []string, err error) {
	start := clock()
	baseline := map[string]int{}
	notReadySince := map[string]time.Time{}
	first := true
	for {
		now := clock()
		pods, err := w.pods(ctx)
		if err != nil {
			return nil, nil, err
		}
		if first {
			// Restarts from before the bake (a pod the update left alone) are not this release's.
			for _, p := range pods {
				baseline[p.name] = p.restarts
			}
			first = false
		}
		problems = judgePods(pods, baseline, notReadySince, now)
		var m releaseMetrics
		if target.metrics && len(pods) > 0 {
			if m, err = w.metrics(ctx, podNames(pods)); err != nil {
				return nil, nil, err
			}
			problems = append(problems, judgeMetrics(m, target)...)
		}
		if len(problems) > 0 {
			return problems, nil, nil
		}
		elapsed := now.Sub(start)
		progress(bakeProgress(elapsed, target, len(pods), m))
		if elapsed >= target.bake {
			if target.metrics && m.requests < minJudgedRequests {
				notes = append(notes, fmt.Sprintf("the release served %.0f request(s), fewer than %d: its error ratio and latency were not judged", m.requests, minJudgedRequests))
			}
			if !target.metrics {
				notes = append(notes, "no bundled Prometheus (monitoring off or in operator mode): only the pods were judged")
			}
			return nil, notes, nil
		}
		if err := sleep(ctx, min(verifyInterval, target.bake-elapsed)); err != nil {
			return nil, nil, err
		}
	}
}

// judgePods checks one observation of the release's pods: there is one, none restarted since the
// bake began (baseline: restarts seen then; a pod new since counts from zero), none has been not
// Ready for notReadyGrace. notReadySince carries the not-Ready times from one observation to the next.
func judgePods(pods []podState, baseline map[string]int, notReadySince map[string]time.Time, now time.Time) []string {
	if len(pods) == 0 {
		return []string{"the Deployment has no pods"}
	}
	var problems []string
	seen := map[string]bool{}
	for _, p := range pods {
		seen[p.name] = true
		if n := p.restarts - baseline[p.name]; n > 0 {
			problems = append(problems, fmt.Sprintf("pod %s restarted %d time(s) during the bake%s", p.name, n, because(p.why)))
		}
		if p.ready {
			delete(notReadySince, p.name)
			continue
		}
		since, ok := notReadySince[p.name]
		if !ok {
			notReadySince[p.name] = now
			continue
		}
		if d := now.Sub(since); d >= notReadyGrace {
			problems = append(problems, fmt.Sprintf("pod %s has not been Ready for %s%s", p.name, d.Round(time.Second), because(p.why)))
		}
	}
	for name := range notReadySince {
		if !seen[name] {
			delete(notReadySince, name)
		}
	}
	return problems
}

func because(why string) string {
	if why == "" {
		return ""
	}
	return ": " + why
}

// judgeMetrics holds the release's figures to the stack's alert thresholds, once it has served
// enough requests for them to mean something.
func judgeMetrics(m releaseMetrics, target verifyTarget) []string {
	if m.requests < minJudgedRequests {
		return nil
	}
	var problems []string
	if ratio := m.errors / m.requests; ratio > target.maxErrorRatio {
		problems = append(problems, fmt.Sprintf("%.1f%% of the release's %.0f requests answered 5xx, above monitoring.alerts.errorRatePercent (%g%%)",
			100*ratio, m.requests, 100*target.maxErrorRatio))
	}
	if !math.IsNaN(m.p95) && m.p95 > target.maxP95Seconds {
		problems = append(problems, fmt.Sprintf("the release's p95 latency is %.3f s, above monitoring.alerts.latencyP95Seconds (%g s)", m.p95, target.maxP95Seconds))
	}
	return problems
}

func bakeProgress(elapsed time.Duration, target verifyTarget, pods int, m releaseMetrics) string {
	line := fmt.Sprintf("verify: %s of %s: %d pod(s) Ready, no restarts", elapsed.Round(time.Second), target.bake, pods)
	if target.metrics {
		line += fmt.Sprintf("; %.0f request(s), %.0f 5xx", m.requests, m.errors)
		if !math.IsNaN(m.p95) && m.requests > 0 {
			line += fmt.Sprintf(", p95 %.3f s", m.p95)
		}
	}
	return line
}

func podNames(pods []podState) []string {
	names := make([]string, len(pods))
	for i, p := range pods {
		names[i] = p.name
	}
	return names
}

// releaseQueries are the PromQL queries of a release's figures: requests, 5xx and p95 over the
// counters of the given pods, with the label matchers the stack's alert rules use.
func releaseQueries(job, namespace string, pods []string) (requests, errors, p95 string) {
	quoted := make([]string, len(pods))
	for i, p := range pods {
		quoted[i] = regexp.QuoteMeta(p)
	}
	selector := fmt.Sprintf(`job=%q, namespace=%q, pod=~%q`, job, namespace, strings.Join(quoted, "|"))
	requests = fmt.Sprintf(`sum(%s{%s})`, appmetrics.RequestsTotal, selector)
	errors = fmt.Sprintf(`sum(%s{%s, %s=~"5.."})`, appmetrics.RequestsTotal, selector, appmetrics.StatusLabel)
	p95 = fmt.Sprintf(`histogram_quantile(0.95, sum by (le) (%s_bucket{%s}))`, appmetrics.RequestDuration, selector)
	return requests, errors, p95
}

// verifyTargetFor derives what to watch from the stack's configuration and the update's outputs.
func verifyTargetFor(c *stacks.Config, outputs auto.OutputMap) (verifyTarget, error) {
	namespace, _ := outputs[nexios.ExportNamespace].Value.(string)
	deployment, _ := outputs[nexios.ExportDeploymentName].Value.(string)
	if namespace == "" || deployment == "" {
		return verifyTarget{}, fmt.Errorf("the update's outputs lack %s or %s, which --verify watches", nexios.ExportNamespace, nexios.ExportDeploymentName)
	}
	return verifyTarget{
		namespace:     namespace,
		deployment:    deployment,
		job:           c.App.Name,
		bake:          time.Duration(c.App.Rollout.BakeSeconds) * time.Second,
		metrics:       c.Monitoring.Enabled && c.Monitoring.Mode == "bundled",
		maxErrorRatio: c.Monitoring.Alerts.ErrorRatePercent / 100,
		maxP95Seconds: c.Monitoring.Alerts.LatencyP95Seconds,
	}, nil
}

// verify bakes the release the update just rolled out; on failure it rolls the stack back to the
// last successful update before this one and returns a verifyError.
func (d *deployer) verify(ctx context.Context, outputs auto.OutputMap) error {
	target, err := verifyTargetFor(d.config, outputs)
	if err != nil {
		return err
	}
	w, err := d.kubectlWatcher(ctx, target, outputs)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.stdout, "\nverify: watching Deployment %s/%s for %s (app.rollout.bakeSeconds)\n", target.namespace, target.deployment, target.bake)
	problems, notes, err := bake(ctx, target, w, time.Now, sleepCtx, func(line string) { fmt.Fprintln(d.stdout, line) })
	if err != nil {
		return fmt.Errorf("verifying the release of stack %q: %w", d.opts.stack, err)
	}
	for _, n := range notes {
		fmt.Fprintln(d.stdout, "verify: note:", n)
	}
	if len(problems) == 0 {
		fmt.Fprintf(d.stdout, "verify: the release of stack %s is good\n", d.opts.stack)
		return nil
	}
	fmt.Fprintf(d.stdout, "verify: the release of stack %s failed:\n  %s\nverify: rolling back to the last successful update before it\n", d.opts.stack, strings.Join(problems, "\n  "))
	d.opts.to = 0
	if err := d.rollback(ctx); err != nil {
		// %v, not %w: a rollback refused as input (no earlier update) is still a failed deploy, exit 1.
		return fmt.Errorf("the release of stack %q failed verification (%s), and rolling it back failed: %v", d.opts.stack, strings.Join(problems, "; "), err)
	}
	return verifyError{stack: d.opts.stack, problems: problems}
}

// verifyError reports a release that failed its bake and was rolled back.
type verifyError struct {
	stack    string
	problems []string
}

func (e verifyError) Error() string {
	return fmt.Sprintf("the release of stack %s failed verification and was rolled back: %s", e.stack, strings.Join(e.problems, "; "))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// kubectlWatcher reads the release through bin/kubectl, against the cluster the provider used.
type kubectlWatcher struct {
	kubectl  kubectlReader
	target   verifyTarget
	selector string
	// prometheus is the bundled Prometheus' namespace and StatefulSet, when target.metrics.
	promNamespace, promStatefulSet string
}

func (d *deployer) kubectlWatcher(ctx context.Context, target verifyTarget, outputs auto.OutputMap) (*kubectlWatcher, error) {
	reader, err := d.clusterReader()
	if err != nil {
		return nil, err
	}
	k, ok := reader.(kubectlReader)
	if !ok {
		return nil, invalid(errors.New("--verify needs a cluster: the stack renders YAML (nexios:target.renderYamlTo)"))
	}
	w := &kubectlWatcher{kubectl: k, target: target}
	return w, w.locate(ctx, outputs)
}

// locate finds the Deployment's pod selector and the Prometheus StatefulSet.
func (w *kubectlWatcher) locate(ctx context.Context, outputs auto.OutputMap) error {
	var deployment struct {
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
		} `json:"spec"`
	}
	if err := w.getJSON(ctx, &deployment, "-n", w.target.namespace, "get", "deployment", w.target.deployment); err != nil {
		return err
	}
	var selector []string
	for _, k := range slices.Sorted(maps.Keys(deployment.Spec.Selector.MatchLabels)) {
		selector = append(selector, k+"="+deployment.Spec.Selector.MatchLabels[k])
	}
	if len(selector) == 0 {
		return fmt.Errorf("Deployment %s/%s has no matchLabels selector", w.target.namespace, w.target.deployment)
	}
	w.selector = strings.Join(selector, ",")
	if !w.target.metrics {
		return nil
	}
	w.promNamespace, _ = outputs[nexios.ExportMonitoringNamespace].Value.(string)
	if w.promNamespace == "" {
		return fmt.Errorf("the update's outputs lack %s, where --verify asks Prometheus", nexios.ExportMonitoringNamespace)
	}
	name, err := w.kubectl.run(ctx, "-n", w.promNamespace, "get", "statefulsets", "-l", "app.kubernetes.io/name=prometheus", "-o", "jsonpath={.items[0].metadata.name}")
	if err != nil || len(name) == 0 {
		return fmt.Errorf("finding Prometheus' StatefulSet in namespace %s: %v", w.promNamespace, err)
	}
	w.promStatefulSet = string(name)
	return nil
}

func (w *kubectlWatcher) getJSON(ctx context.Context, into any, args ...string) error {
	out, err := w.kubectl.run(ctx, append(args, "-o", "json")...)
	if err != nil {
		return fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
	}
	if err := json.Unmarshal(out, into); err != nil {
		return fmt.Errorf("reading kubectl %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

func (w *kubectlWatcher) pods(ctx context.Context) ([]podState, error) {
	var list struct {
		Items []struct {
			Metadata struct {
				Name              string  `json:"name"`
				DeletionTimestamp *string `json:"deletionTimestamp"`
			} `json:"metadata"`
			Status struct {
				Phase      string `json:"phase"`
				Conditions []struct {
					Type    string `json:"type"`
					Status  string `json:"status"`
					Reason  string `json:"reason"`
					Message string `json:"message"`
				} `json:"conditions"`
				ContainerStatuses []struct {
					Name         string `json:"name"`
					RestartCount int    `json:"restartCount"`
					LastState    struct {
						Terminated *struct {
							Reason   string `json:"reason"`
							ExitCode int    `json:"exitCode"`
						} `json:"terminated"`
					} `json:"lastState"`
				} `json:"containerStatuses"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := w.getJSON(ctx, &list, "-n", w.target.namespace, "get", "pods", "-l", w.selector); err != nil {
		return nil, err
	}
	var pods []podState
	for _, item := range list.Items {
		// A terminating pod is the old release leaving (or a scale-down): not this release's health.
		if item.Metadata.DeletionTimestamp != nil {
			continue
		}
		p := podState{name: item.Metadata.Name}
		var why []string
		for _, c := range item.Status.Conditions {
			if c.Type == "Ready" {
				p.ready = c.Status == "True"
				if !p.ready && (c.Reason != "" || c.Message != "") {
					why = append(why, strings.TrimSpace("Ready="+c.Status+" "+c.Reason+" "+c.Message))
				}
			}
		}
		for _, c := range item.Status.ContainerStatuses {
			p.restarts += c.RestartCount
			if t := c.LastState.Terminated; t != nil && c.RestartCount > 0 {
				why = append(why, fmt.Sprintf("container %s last exited %s (code %d)", c.Name, t.Reason, t.ExitCode))
			}
		}
		if len(why) == 0 && item.Status.Phase != "Running" {
			why = append(why, "phase "+item.Status.Phase)
		}
		p.why = strings.Join(why, "; ")
		pods = append(pods, p)
	}
	return pods, nil
}

// metrics asks the bundled Prometheus from inside its own pod (kubectl exec, the image's busybox
// wget): the monitoring namespace's NetworkPolicies admit no other client, the API server's service
// proxy included.
func (w *kubectlWatcher) metrics(ctx context.Context, pods []string) (releaseMetrics, error) {
	requests, errs, p95 := releaseQueries(w.target.job, w.target.namespace, pods)
	var m releaseMetrics
	for _, q := range []struct {
		query string
		into  *float64
		empty float64
	}{{requests, &m.requests, 0}, {errs, &m.errors, 0}, {p95, &m.p95, math.NaN()}} {
		v, err := w.query(ctx, q.query)
		if err != nil {
			return releaseMetrics{}, err
		}
		*q.into = q.empty
		if v != nil {
			*q.into = *v
		}
	}
	return m, nil
}

// query runs an instant query; nil when the result is empty (no series yet).
func (w *kubectlWatcher) query(ctx context.Context, query string) (*float64, error) {
	out, err := w.kubectl.run(ctx, "-n", w.promNamespace, "exec", "statefulset/"+w.promStatefulSet, "-c", "prometheus", "--",
		"wget", "-qO-", "http://localhost:9090/api/v1/query?"+url.Values{"query": {query}}.Encode())
	if err != nil {
		return nil, fmt.Errorf("asking Prometheus: %w", err)
	}
	return parseInstantQuery(out)
}

// parseInstantQuery reads the value of a one-series instant query's response; nil when it has none.
func parseInstantQuery(body []byte) (*float64, error) {
	var response struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &response); err != nil {
		return nil, fmt.Errorf("reading Prometheus' answer: %w", err)
	}
	if response.Status != "success" {
		return nil, fmt.Errorf("Prometheus answered %s: %s", response.Status, response.Error)
	}
	if len(response.Data.Result) == 0 {
		return nil, nil
	}
	text, _ := response.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return nil, fmt.Errorf("reading Prometheus' value %q: %w", text, err)
	}
	return &v, nil
}
