package master

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	opv1 "github.com/mesos/mesos-go/api/v1/lib/master"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/wire"
)

// operatorHandler answers one operator API call (POST /api/v1). It returns
// the response to encode; a nil response is answered 200 OK with an empty
// body, as Mesos answers calls without a response message. Return
// errAccepted for 202 Accepted, or a *wire.HTTPError for another status.
type operatorHandler func(m *Master, ctx context.Context, call *opv1.Call) (*opv1.Response, error)

// errAccepted makes the dispatcher answer 202 Accepted with no body (Mesos
// does so for RESERVE_RESOURCES, CREATE_VOLUMES and the like).
var errAccepted = errors.New("accepted")

var (
	operatorMu       sync.RWMutex
	operatorHandlers = map[opv1.Call_Type]operatorHandler{}
)

// registerOperatorCall makes h answer operator calls of type t. Files of this
// package register their calls from init, one line each:
//
//	func init() { registerOperatorCall(opv1.Call_SET_QUOTA, (*Master).setQuota) }
//
// Registering a type twice panics.
func registerOperatorCall(t opv1.Call_Type, h operatorHandler) {
	operatorMu.Lock()
	defer operatorMu.Unlock()
	if _, dup := operatorHandlers[t]; dup {
		panic("operator call registered twice: " + t.String())
	}
	operatorHandlers[t] = h
}

func lookupOperatorCall(t opv1.Call_Type) operatorHandler {
	operatorMu.RLock()
	defer operatorMu.RUnlock()
	return operatorHandlers[t]
}

// serveOperator is POST /api/v1: content negotiation as for the scheduler
// API, then the handler registered for the call type. Unknown call types
// are a 400 (as Mesos' validation), known but unimplemented ones a 501.
func (m *Master) serveOperator(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		wire.WriteError(w, wire.Errorf(http.StatusMethodNotAllowed, "Expecting a 'POST' request, received '%s'", r.Method))
		return
	}
	if m.redirectToLeader(w, r) {
		return
	}
	n, err := wire.Negotiate(r)
	if err != nil {
		wire.WriteError(w, err)
		return
	}
	call := &opv1.Call{}
	if err := wire.DecodeCall(r, n, call); err != nil {
		wire.WriteError(w, err)
		return
	}
	if _, known := opv1.Call_Type_name[int32(call.GetType())]; !known || call.GetType() == opv1.Call_UNKNOWN {
		wire.WriteError(w, wire.Errorf(http.StatusBadRequest, "Failed to validate master::Call: Expecting 'type' to be present"))
		return
	}
	h := lookupOperatorCall(call.GetType())
	if h == nil {
		wire.WriteError(w, wire.Errorf(http.StatusNotImplemented, "Operator call %s is not implemented", call.GetType()))
		return
	}
	resp, err := h(m, r.Context(), call)
	switch {
	case errors.Is(err, errAccepted):
		w.WriteHeader(http.StatusAccepted)
		return
	case err != nil:
		klog.V(2).InfoS("Operator call failed", "type", call.GetType(), "err", err)
		wire.WriteError(w, err)
		return
	case resp == nil:
		w.WriteHeader(http.StatusOK)
		return
	}
	var buf bytes.Buffer
	if err := n.Response.NewEncoder(encoding.SinkWriter(&buf)).Encode(resp); err != nil {
		wire.WriteError(w, fmt.Errorf("encode %s response: %w", call.GetType(), err))
		return
	}
	w.Header().Set("Content-Type", n.Response.Type.ContentType())
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(buf.Bytes()); err != nil {
		klog.V(2).InfoS("Writing operator response failed", "type", call.GetType(), "err", err)
	}
}

// registerExtraRoutes adds the operator API, metrics and related endpoints.
func (m *Master) registerExtraRoutes(mux *http.ServeMux) {
	mux.HandleFunc("/api/v1", m.serveOperator)
}

func init() {
	registerOperatorCall(opv1.Call_GET_HEALTH, (*Master).getHealth)
	registerOperatorCall(opv1.Call_GET_VERSION, (*Master).getVersion)
}

func (m *Master) getHealth(context.Context, *opv1.Call) (*opv1.Response, error) {
	return &opv1.Response{Type: opv1.Response_GET_HEALTH, GetHealth: &opv1.Response_GetHealth{Healthy: true}}, nil
}

func (m *Master) getVersion(context.Context, *opv1.Call) (*opv1.Response, error) {
	return &opv1.Response{Type: opv1.Response_GET_VERSION, GetVersion: &opv1.Response_GetVersion{
		VersionInfo: mesos.VersionInfo{Version: Version},
	}}, nil
}
