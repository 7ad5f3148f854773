package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// amounts are CPU in millicores and memory in bytes, requested and limited. A limit of -1 means
// unbounded: some container of the pod has none, so the pod has none.
type amounts struct {
	cpuRequest, cpuLimit int64
	memRequest, memLimit int64
}

func (a amounts) plus(b amounts) amounts {
	add := func(x, y int64) int64 {
		if x < 0 || y < 0 {
			return -1
		}
		return x + y
	}
	return amounts{add(a.cpuRequest, b.cpuRequest), add(a.cpuLimit, b.cpuLimit), add(a.memRequest, b.memRequest), add(a.memLimit, b.memLimit)}
}

func (a amounts) times(n int64) amounts {
	mul := func(x int64) int64 {
		if x < 0 {
			return -1
		}
		return x * n
	}
	return amounts{mul(a.cpuRequest), mul(a.cpuLimit), mul(a.memRequest), mul(a.memLimit)}
}

// maxOf is the larger of each figure, an unbounded limit winning.
func (a amounts) maxOf(b amounts) amounts {
	larger := func(x, y int64) int64 {
		if x < 0 || y < 0 {
			return -1
		}
		return max(x, y)
	}
	return amounts{max(a.cpuRequest, b.cpuRequest), larger(a.cpuLimit, b.cpuLimit), max(a.memRequest, b.memRequest), larger(a.memLimit, b.memLimit)}
}

// componentTotals are one component's pods and what they request and may use, at the replicas the
// stack starts with. DaemonSet pods count once (one node); Jobs, which run once and end, are not
// counted but named.
type componentTotals struct {
	component  string
	pods       int64
	daemonSets int64 // pods per node, included once in pods and totals
	totals     amounts
	jobs       []string
	// hpaMax is the totals with every autoscaled workload at its HPA's maxReplicas (zero without an HPA).
	hpaMax     amounts
	hpaMaxPods int64
}

// container, podSpec and object are the parts of a rendered manifest the totals read.
type container struct {
	Name          string `yaml:"name"`
	RestartPolicy string `yaml:"restartPolicy"` // Always on an init container: a sidecar
	Resources     struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
}

type podSpec struct {
	InitContainers []container `yaml:"initContainers"`
	Containers     []container `yaml:"containers"`
}

type object struct {
	path     string // the file it came from
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec struct {
		Replicas    *int64 `yaml:"replicas"`
		Parallelism *int64 `yaml:"parallelism"`
		Template    struct {
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
		// HorizontalPodAutoscaler
		MinReplicas    *int64 `yaml:"minReplicas"`
		MaxReplicas    int64  `yaml:"maxReplicas"`
		ScaleTargetRef struct {
			Kind string `yaml:"kind"`
			Name string `yaml:"name"`
		} `yaml:"scaleTargetRef"`
		// LimitRange
		Limits []struct {
			Type           string            `yaml:"type"`
			Default        map[string]string `yaml:"default"`
			DefaultRequest map[string]string `yaml:"defaultRequest"`
		} `yaml:"limits"`
	} `yaml:"spec"`
}

// componentNames maps the app.kubernetes.io/component label to the program's component: components/app
// labels its objects "web".
var componentNames = map[string]string{"web": "app"}

// resourceTotals reads every manifest under dir and adds up, per component, the CPU and memory the
// pods request and are limited to, as Kubernetes counts a pod: the sum of its containers (sidecar init
// containers included), or its largest init container plus the sidecars started before it if that is
// more. A container without requests or limits gets its namespace's LimitRange defaults, as admission
// gives them; a request left unset with a limit set is the limit. Replicas are the workload's, or its
// HPA's minReplicas (hpaMax: its maxReplicas); a Deployment or StatefulSet without either runs one.
func resourceTotals(dir string) ([]componentTotals, error) {
	objects, err := readObjects(dir)
	if err != nil {
		return nil, err
	}
	defaults := map[string]container{} // LimitRange defaults by namespace
	type bounds struct{ min, max int64 }
	hpas := map[string]bounds{} // by namespace/kind/name of the target
	for _, o := range objects {
		switch o.Kind {
		case "LimitRange":
			for _, l := range o.Spec.Limits {
				if l.Type == "Container" {
					var c container
					c.Resources.Requests, c.Resources.Limits = l.DefaultRequest, l.Default
					defaults[o.Metadata.Namespace] = c
				}
			}
		case "HorizontalPodAutoscaler":
			minReplicas := int64(1) // the API's default
			if o.Spec.MinReplicas != nil {
				minReplicas = *o.Spec.MinReplicas
			}
			hpas[o.Metadata.Namespace+"/"+o.Spec.ScaleTargetRef.Kind+"/"+o.Spec.ScaleTargetRef.Name] = bounds{minReplicas, o.Spec.MaxReplicas}
		}
	}
	byComponent := map[string]*componentTotals{}
	for _, o := range objects {
		switch o.Kind {
		case "Deployment", "StatefulSet", "DaemonSet", "Job":
		default:
			continue
		}
		name := o.Metadata.Labels["app.kubernetes.io/component"]
		if name == "" {
			name = "namespace " + o.Metadata.Namespace
		}
		if n, ok := componentNames[name]; ok {
			name = n
		}
		t := byComponent[name]
		if t == nil {
			t = &componentTotals{component: name}
			byComponent[name] = t
		}
		id := o.Kind + " " + o.Metadata.Namespace + "/" + o.Metadata.Name
		if o.Kind == "Job" {
			t.jobs = append(t.jobs, o.Metadata.Name)
			continue
		}
		pod, err := podAmounts(o.Spec.Template.Spec, defaults[o.Metadata.Namespace])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		replicas := int64(1) // the API's default, and a DaemonSet's pod on one node
		if o.Spec.Replicas != nil {
			replicas = *o.Spec.Replicas
		}
		atMax := replicas
		if h, ok := hpas[o.Metadata.Namespace+"/"+o.Kind+"/"+o.Metadata.Name]; ok {
			replicas, atMax = h.min, h.max
		}
		if o.Kind == "DaemonSet" {
			t.daemonSets++
		}
		t.pods += replicas
		t.totals = t.totals.plus(pod.times(replicas))
		t.hpaMaxPods += atMax
		t.hpaMax = t.hpaMax.plus(pod.times(atMax))
	}
	var out []componentTotals
	for _, name := range slices.Sorted(maps.Keys(byComponent)) {
		t := *byComponent[name]
		if t.hpaMaxPods == t.pods {
			t.hpaMax, t.hpaMaxPods = amounts{}, 0
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no workload in the manifests under %s", dir)
	}
	return out, nil
}

// podAmounts is what one pod requests and is limited to, as the scheduler and the kubelet count it.
func podAmounts(spec podSpec, defaults container) (amounts, error) {
	var regular, sidecars, initPeak amounts
	for _, c := range spec.InitContainers {
		a, err := containerAmounts(c, defaults)
		if err != nil {
			return amounts{}, err
		}
		if c.RestartPolicy == "Always" {
			sidecars = sidecars.plus(a)
			continue
		}
		// An init container runs beside the sidecars started before it.
		initPeak = initPeak.maxOf(a.plus(sidecars))
	}
	for _, c := range spec.Containers {
		a, err := containerAmounts(c, defaults)
		if err != nil {
			return amounts{}, err
		}
		regular = regular.plus(a)
	}
	if len(spec.Containers) == 0 {
		return amounts{}, errors.New("the pod template has no containers")
	}
	return regular.plus(sidecars).maxOf(initPeak), nil
}

// containerAmounts reads one container's CPU and memory, with the namespace's LimitRange defaults
// where it sets none.
func containerAmounts(c container, defaults container) (amounts, error) {
	value := func(m, fallback map[string]string, key string) (string, bool) {
		if v, ok := m[key]; ok {
			return v, true
		}
		v, ok := fallback[key]
		return v, ok
	}
	var a amounts
	var errs []error
	for _, r := range []struct {
		key            string
		parse          func(string) (int64, error)
		request, limit *int64
	}{
		{"cpu", parseCPU, &a.cpuRequest, &a.cpuLimit},
		{"memory", parseMemory, &a.memRequest, &a.memLimit},
	} {
		limit, hasLimit := value(c.Resources.Limits, defaults.Resources.Limits, r.key)
		*r.limit = -1
		if hasLimit {
			n, err := r.parse(limit)
			if err != nil {
				errs = append(errs, fmt.Errorf("container %s: limits.%s: %w", c.Name, r.key, err))
			}
			*r.limit = n
		}
		request, hasRequest := c.Resources.Requests[r.key]
		if !hasRequest {
			// Kubernetes defaults a missing request to the container's own limit, then to the
			// LimitRange's defaultRequest.
			if l, own := c.Resources.Limits[r.key]; own {
				request, hasRequest = l, true
			} else {
				request, hasRequest = defaults.Resources.Requests[r.key]
			}
		}
		if hasRequest {
			n, err := r.parse(request)
			if err != nil {
				errs = append(errs, fmt.Errorf("container %s: requests.%s: %w", c.Name, r.key, err))
			}
			*r.request = n
		}
	}
	return a, errors.Join(errs...)
}

// quantitySuffixes are Kubernetes' binary and decimal suffixes, by multiplier.
var quantitySuffixes = []struct {
	suffix string
	factor float64
}{
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"Pi", 1 << 50}, {"Ei", 1 << 60},
	{"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"P", 1e15}, {"E", 1e18}, {"m", 1e-3},
}

// parseQuantity reads a Kubernetes quantity ("500m", "1.5", "256Mi", "1G") as a number of units.
func parseQuantity(s string) (float64, error) {
	number, factor := strings.TrimSpace(s), 1.0
	for _, q := range quantitySuffixes {
		if n, ok := strings.CutSuffix(number, q.suffix); ok {
			number, factor = n, q.factor
			break
		}
	}
	v, err := strconv.ParseFloat(number, 64)
	if err != nil || v < 0 || number == "" || strings.ContainsAny(number, "eE") {
		return 0, fmt.Errorf("%q is not a quantity Kubernetes reads (e.g. 500m, 2, 256Mi, 1Gi)", s)
	}
	return v * factor, nil
}

// parseCPU is a CPU quantity in millicores, rounded up as Kubernetes does.
func parseCPU(s string) (int64, error) {
	v, err := parseQuantity(s)
	return int64(math.Ceil(v*1000 - 1e-9)), err
}

// parseMemory is a memory quantity in bytes, rounded up.
func parseMemory(s string) (int64, error) {
	v, err := parseQuantity(s)
	return int64(math.Ceil(v - 1e-9)), err
}

// readObjects decodes every YAML document of every .yaml file under dir.
func readObjects(dir string) ([]object, error) {
	var objects []object
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for {
			var o object
			if err := dec.Decode(&o); errors.Is(err, io.EOF) {
				return nil
			} else if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if o.Kind != "" {
				o.path = path
				objects = append(objects, o)
			}
		}
	})
	return objects, err
}

// printResources writes the table of requests and limits per stack and component, with each stack's
// total and, where an HPA can scale a workload up, the same at its maxReplicas.
func printResources(w io.Writer, stackNames []string, totals map[string][]componentTotals) {
	fmt.Fprintln(w, "\n| stack | component | pods | CPU requests | CPU limits | memory requests | memory limits |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	var notes []string
	for _, stack := range stackNames {
		var sum, sumMax amounts
		var pods, podsMax int64
		scaled := false
		for _, t := range totals[stack] {
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", stack, t.component, podCount(t.pods, t.daemonSets), amountCells(t.totals))
			sum, pods = sum.plus(t.totals), pods+t.pods
			if t.hpaMaxPods > 0 {
				scaled = true
				fmt.Fprintf(w, "| %s | %s, HPAs at maxReplicas | %s | %s |\n", stack, t.component, podCount(t.hpaMaxPods, t.daemonSets), amountCells(t.hpaMax))
				sumMax, podsMax = sumMax.plus(t.hpaMax), podsMax+t.hpaMaxPods
			} else {
				sumMax, podsMax = sumMax.plus(t.totals), podsMax+t.pods
			}
			for _, j := range t.jobs {
				notes = append(notes, fmt.Sprintf("%s: the %s Job %s runs once and is not counted", stack, t.component, j))
			}
		}
		fmt.Fprintf(w, "| %s | **total** | %d | %s |\n", stack, pods, amountCells(sum))
		if scaled {
			fmt.Fprintf(w, "| %s | **total, HPAs at maxReplicas** | %d | %s |\n", stack, podsMax, amountCells(sumMax))
		}
	}
	fmt.Fprintln(w, "\nReplicas as the stack starts them (an HPA's minReplicas); a DaemonSet's pod counted once, for one node.")
	for _, n := range notes {
		fmt.Fprintln(w, n+".")
	}
}

func podCount(pods, perNode int64) string {
	if perNode == 0 {
		return strconv.FormatInt(pods, 10)
	}
	return fmt.Sprintf("%d (%d per node)", pods, perNode)
}

func amountCells(a amounts) string {
	return strings.Join([]string{cores(a.cpuRequest), cores(a.cpuLimit), bytesOf(a.memRequest), bytesOf(a.memLimit)}, " | ")
}

// cores shows millicores as cores.
func cores(m int64) string {
	if m < 0 {
		return "unbounded"
	}
	return strconv.FormatFloat(float64(m)/1000, 'f', -1, 64)
}

// bytesOf shows bytes in MiB below a GiB, else in GiB.
func bytesOf(b int64) string {
	switch {
	case b < 0:
		return "unbounded"
	case b < 1<<30:
		return strconv.FormatFloat(float64(b)/(1<<20), 'f', -1, 64) + " MiB"
	default:
		return strconv.FormatFloat(math.Round(float64(b)/(1<<30)*100)/100, 'f', -1, 64) + " GiB"
	}
}
