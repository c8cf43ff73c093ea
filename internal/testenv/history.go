package testenv

import (
	"context"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// HistoryPayload is one payload of a history event and where it sits.
type HistoryPayload struct {
	Where   string
	Payload *commonpb.Payload
}

// HistoryPayloads walks every event for Payload messages, leaving out
// search attributes (the server indexes them, so no codec ever sees them).
func HistoryPayloads(t testing.TB, tc client.Client, workflowID string) (payloads []HistoryPayload, events int) {
	t.Helper()
	payloadName := (&commonpb.Payload{}).ProtoReflect().Descriptor().FullName()
	searchAttrsName := (&commonpb.SearchAttributes{}).ProtoReflect().Descriptor().FullName()
	var walk func(where string, m protoreflect.Message)
	walk = func(where string, m protoreflect.Message) {
		switch m.Descriptor().FullName() {
		case searchAttrsName:
			return
		case payloadName:
			payloads = append(payloads, HistoryPayload{where, m.Interface().(*commonpb.Payload)})
			return
		}
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			name := where + "." + string(fd.Name())
			switch {
			case fd.IsMap() && fd.MapValue().Message() != nil:
				v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					walk(name+"["+k.String()+"]", mv.Message())
					return true
				})
			case fd.IsList() && fd.Message() != nil:
				for i := 0; i < v.List().Len(); i++ {
					walk(name, v.List().Get(i).Message())
				}
			case !fd.IsMap() && !fd.IsList() && fd.Message() != nil:
				walk(name, v.Message())
			}
			return true
		})
	}
	it := tc.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events++
		walk(e.GetEventType().String(), e.ProtoReflect())
	}
	return payloads, events
}
