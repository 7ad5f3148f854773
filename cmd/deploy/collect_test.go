package main

import (
	"maps"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
)

// The event streams below follow what the engine (pulumi v3.274.1) emits: a refresh sends a
// ResourcePreEvent with op "refresh" for every resource, then, for custom resources only, a
// ResOutputsEvent whose op is the refresh's result; a replace sends three ResourcePreEvents for one URN.

const (
	deploymentType = "kubernetes:apps/v1:Deployment"
	serviceType    = "kubernetes:core/v1:Service"
	configMapType  = "kubernetes:core/v1:ConfigMap"
	componentType  = "nexios:components:App"
	providerType   = "pulumi:providers:kubernetes"
)

func urn(typ, name string) string { return "urn:pulumi:dev::nexios::" + typ + "::" + name }

func meta(op apitype.OpType, typ, name string) apitype.StepEventMetadata {
	return apitype.StepEventMetadata{Op: op, URN: urn(typ, name), Type: typ}
}

func preEvent(op apitype.OpType, typ, name string) events.EngineEvent {
	return events.EngineEvent{EngineEvent: apitype.EngineEvent{ResourcePreEvent: &apitype.ResourcePreEvent{Metadata: meta(op, typ, name)}}}
}

func outputsEvent(op apitype.OpType, typ, name string) events.EngineEvent {
	return events.EngineEvent{EngineEvent: apitype.EngineEvent{ResOutputsEvent: &apitype.ResOutputsEvent{Metadata: meta(op, typ, name)}}}
}

func failedEvent(op apitype.OpType, typ, name string) events.EngineEvent {
	return events.EngineEvent{EngineEvent: apitype.EngineEvent{ResOpFailedEvent: &apitype.ResOpFailedEvent{Metadata: meta(op, typ, name)}}}
}

// refreshOf is the refresh of one custom resource whose read found result.
func refreshOf(result apitype.OpType, typ, name string) []events.EngineEvent {
	return []events.EngineEvent{preEvent(apitype.OpRefresh, typ, name), outputsEvent(result, typ, name)}
}

// stackOutputs is the stack's outputs event of a run that registers exports, the state holding old.
func stackOutputs(old, exports map[string]any) events.EngineEvent {
	m := meta(apitype.OpSame, stackType, "nexios-dev")
	m.Old = &apitype.StepEventStateMetadata{Outputs: old}
	m.New = &apitype.StepEventStateMetadata{Outputs: exports}
	return events.EngineEvent{EngineEvent: apitype.EngineEvent{ResOutputsEvent: &apitype.ResOutputsEvent{Metadata: m}}}
}

// drifted gives an outputs event the detailed diff of a refresh that found a property changed.
func drifted(e events.EngineEvent) events.EngineEvent {
	e.ResOutputsEvent.Metadata.DetailedDiff = map[string]apitype.PropertyDiff{"data.LOG_LEVEL": {Kind: apitype.DiffUpdate}}
	return e
}

func concat(streams ...[]events.EngineEvent) []events.EngineEvent {
	var out []events.EngineEvent
	for _, s := range streams {
		out = append(out, s...)
	}
	return out
}

func TestCollectCountsWhatTheEngineReports(t *testing.T) {
	// The stack is left out; a component is announced and never read (no outputs event), so it is
	// "same"; the provider's refresh reports "same" like any custom resource.
	prelude := concat([]events.EngineEvent{
		preEvent(apitype.OpRefresh, stackType, "nexios-dev"),
		preEvent(apitype.OpRefresh, componentType, "nexios"),
	}, refreshOf(apitype.OpSame, providerType, "k8s"))
	tests := []struct {
		name    string
		stream  []events.EngineEvent
		changed int
		drifted int
		// outputsChanged: the stack's exports differ from the state's.
		outputsChanged bool
		totals         map[string]int
		byType         map[string]map[string]int
	}{
		{
			name: "refresh with no drift",
			stream: concat(prelude,
				refreshOf(apitype.OpSame, deploymentType, "app"),
				refreshOf(apitype.OpSame, serviceType, "app"),
				refreshOf(apitype.OpSame, configMapType, "env"),
				[]events.EngineEvent{outputsEvent(apitype.OpSame, stackType, "nexios-dev")}),
			changed: 0,
			totals:  map[string]int{"same": 5},
		},
		{
			name: "refresh with one drifted resource",
			stream: concat(prelude,
				refreshOf(apitype.OpSame, deploymentType, "app"),
				refreshOf(apitype.OpUpdate, configMapType, "env"),
				refreshOf(apitype.OpSame, serviceType, "app")),
			changed: 1,
			totals:  map[string]int{"same": 4, "update": 1},
			byType:  map[string]map[string]int{configMapType: {"update": 1}},
		},
		{
			name: "refresh finding a deleted resource",
			stream: concat(prelude,
				refreshOf(apitype.OpDelete, serviceType, "app"),
				refreshOf(apitype.OpSame, deploymentType, "app")),
			changed: 1,
			totals:  map[string]int{"same": 3, "delete": 1},
			byType:  map[string]map[string]int{serviceType: {"delete": 1}},
		},
		{
			name: "refresh whose read fails counts nothing for that resource",
			stream: concat(
				[]events.EngineEvent{preEvent(apitype.OpRefresh, serviceType, "app"), failedEvent(apitype.OpRefresh, serviceType, "app")},
				refreshOf(apitype.OpSame, deploymentType, "app")),
			changed: 0,
			totals:  map[string]int{"same": 1},
		},
		{
			name: "refresh then a plan of nothing reports the plan, once",
			stream: concat(refreshOf(apitype.OpSame, deploymentType, "app"), refreshOf(apitype.OpSame, serviceType, "app"),
				[]events.EngineEvent{preEvent(apitype.OpSame, deploymentType, "app"), outputsEvent(apitype.OpSame, deploymentType, "app"), preEvent(apitype.OpSame, serviceType, "app")}),
			changed: 0,
			totals:  map[string]int{"same": 2},
		},
		{
			name: "refresh finding drift then the plan repairing it",
			stream: concat(refreshOf(apitype.OpUpdate, deploymentType, "app"), refreshOf(apitype.OpSame, serviceType, "app"),
				[]events.EngineEvent{preEvent(apitype.OpUpdate, deploymentType, "app"), outputsEvent(apitype.OpUpdate, deploymentType, "app"), preEvent(apitype.OpSame, serviceType, "app")}),
			changed: 1,
			drifted: 1,
			totals:  map[string]int{"update": 1, "same": 1},
			byType:  map[string]map[string]int{deploymentType: {"update": 1}},
		},
		{
			name: "a refresh inside a preview tells its outcome by its diff",
			stream: []events.EngineEvent{
				preEvent(apitype.OpRefresh, deploymentType, "app"), drifted(outputsEvent(apitype.OpRefresh, deploymentType, "app")),
				preEvent(apitype.OpRefresh, serviceType, "app"), outputsEvent(apitype.OpRefresh, serviceType, "app"),
				preEvent(apitype.OpUpdate, deploymentType, "app"), preEvent(apitype.OpSame, serviceType, "app"),
			},
			changed: 1,
			drifted: 1,
			totals:  map[string]int{"update": 1, "same": 1},
		},
		{
			name: "a plan whose only change is an export",
			stream: []events.EngineEvent{
				preEvent(apitype.OpSame, stackType, "nexios-dev"), preEvent(apitype.OpSame, serviceType, "app"),
				stackOutputs(map[string]any{"serviceName": "nexios"}, map[string]any{"serviceName": "nexios", "servicePort": 80}),
			},
			changed:        0,
			outputsChanged: true,
			totals:         map[string]int{"same": 1},
		},
		{
			name: "a plan with the exports unchanged",
			stream: []events.EngineEvent{
				preEvent(apitype.OpSame, stackType, "nexios-dev"), preEvent(apitype.OpSame, serviceType, "app"),
				stackOutputs(map[string]any{"serviceName": "nexios"}, map[string]any{"serviceName": "nexios"}),
			},
			totals: map[string]int{"same": 1},
		},
		{
			name: "drift the plan leaves alone",
			stream: concat(refreshOf(apitype.OpUpdate, deploymentType, "app"),
				[]events.EngineEvent{preEvent(apitype.OpSame, deploymentType, "app")}),
			changed: 0,
			drifted: 1,
			totals:  map[string]int{"same": 1},
		},
		{
			name: "a replace is one change",
			stream: []events.EngineEvent{
				preEvent(apitype.OpSame, stackType, "nexios-dev"),
				preEvent(apitype.OpCreateReplacement, "kubernetes:batch/v1:Job", "setup"),
				preEvent(apitype.OpReplace, "kubernetes:batch/v1:Job", "setup"),
				outputsEvent(apitype.OpCreateReplacement, "kubernetes:batch/v1:Job", "setup"),
				preEvent(apitype.OpSame, serviceType, "app"),
				preEvent(apitype.OpDeleteReplaced, "kubernetes:batch/v1:Job", "setup"),
			},
			changed: 1,
			totals:  map[string]int{"replace": 1, "same": 1},
			byType:  map[string]map[string]int{"kubernetes:batch/v1:Job": {"replace": 1}},
		},
		{
			name: "preview of creates, updates, deletes and reads",
			stream: []events.EngineEvent{
				preEvent(apitype.OpCreate, deploymentType, "app"),
				outputsEvent(apitype.OpCreate, deploymentType, "app"),
				preEvent(apitype.OpUpdate, configMapType, "env"),
				preEvent(apitype.OpDelete, serviceType, "old"),
				preEvent(apitype.OpRead, "kubernetes:core/v1:Namespace", "ingress"),
				preEvent(apitype.OpSame, serviceType, "app"),
			},
			changed: 3,
			totals:  map[string]int{"create": 1, "update": 1, "delete": 1, "read": 1, "same": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := make(chan events.EngineEvent)
			done := make(chan changeSummary, 1)
			go collect("dev", ch, done)
			for _, e := range tt.stream {
				ch <- e
			}
			close(ch)
			s := <-done
			if s.OutputsChanged != tt.outputsChanged {
				t.Errorf("outputsChanged = %v, want %v", s.OutputsChanged, tt.outputsChanged)
			}
			if s.Drifted != tt.drifted {
				t.Errorf("drifted = %d, want %d", s.Drifted, tt.drifted)
			}
			if s.Changed != tt.changed {
				t.Errorf("changed = %d, want %d (totals %v)", s.Changed, tt.changed, s.Totals)
			}
			if !maps.Equal(s.Totals, tt.totals) {
				t.Errorf("totals = %v, want %v", s.Totals, tt.totals)
			}
			if _, ok := s.ByType[stackType]; ok {
				t.Errorf("the stack resource is counted: %v", s.ByType)
			}
			for typ, want := range tt.byType {
				if !maps.Equal(s.ByType[typ], want) {
					t.Errorf("%s = %v, want %v", typ, s.ByType[typ], want)
				}
			}
		})
	}
}
