package main

import (
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
)

func stepEvent(op apitype.OpType, urn string) apitype.StepEventMetadata {
	return apitype.StepEventMetadata{Op: op, URN: urn, New: &apitype.StepEventStateMetadata{URN: urn, Custom: true, Type: "kubernetes:core/v1:ConfigMap"}}
}

func TestCreateWatchKeepsTheCreatesThatDidNotSucceed(t *testing.T) {
	ch := make(chan events.EngineEvent)
	w := watchCreates(ch)
	for _, e := range []apitype.EngineEvent{
		{ResourcePreEvent: &apitype.ResourcePreEvent{Metadata: stepEvent(apitype.OpCreate, "urn:b")}},
		{ResourcePreEvent: &apitype.ResourcePreEvent{Metadata: stepEvent(apitype.OpCreate, "urn:ok")}},
		{ResOutputsEvent: &apitype.ResOutputsEvent{Metadata: stepEvent(apitype.OpCreate, "urn:ok")}},
		{ResourcePreEvent: &apitype.ResourcePreEvent{Metadata: stepEvent(apitype.OpCreateReplacement, "urn:a")}},
		{ResOpFailedEvent: &apitype.ResOpFailedEvent{Metadata: stepEvent(apitype.OpCreateReplacement, "urn:a")}},
		{ResourcePreEvent: &apitype.ResourcePreEvent{Metadata: stepEvent(apitype.OpCreate, "urn:planned"), Planning: true}},
		{ResourcePreEvent: &apitype.ResourcePreEvent{Metadata: stepEvent(apitype.OpUpdate, "urn:updated")}},
		{ResOpFailedEvent: &apitype.ResOpFailedEvent{Metadata: stepEvent(apitype.OpUpdate, "urn:updated")}},
	} {
		ch <- events.EngineEvent{EngineEvent: e}
	}
	close(ch)
	var urns []string
	for _, m := range w.unfinished(time.Second) {
		urns = append(urns, m.URN)
	}
	if strings.Join(urns, " ") != "urn:a urn:b" {
		t.Errorf("unfinished creates %v, want the failed urn:a and the unfinished urn:b", urns)
	}
}

func TestCreateWatchDoesNotWaitForAStreamThatNeverEnds(t *testing.T) {
	ch := make(chan events.EngineEvent)
	w := watchCreates(ch)
	ch <- events.EngineEvent{EngineEvent: apitype.EngineEvent{ResourcePreEvent: &apitype.ResourcePreEvent{Metadata: stepEvent(apitype.OpCreate, "urn:x")}}}
	start := time.Now()
	if got := w.unfinished(50 * time.Millisecond); len(got) != 1 || time.Since(start) > 5*time.Second {
		t.Errorf("unfinished = %v after %s", got, time.Since(start))
	}
}
