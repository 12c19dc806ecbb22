package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"

	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/framing"
	"github.com/mesos/mesos-go/api/v1/lib/recordio"
)

// MediaTypeRecordIO is the streaming media type of newer Mesos clients; the
// message type then travels in Message-Accept / Message-Content-Type.
const MediaTypeRecordIO = "application/recordio"

// Header names of the v1 APIs.
const (
	HeaderStreamID           = "Mesos-Stream-Id"
	HeaderMessageAccept      = "Message-Accept"
	HeaderMessageContentType = "Message-Content-Type"
)

// MaxBody bounds a call body (Mesos calls are small; LAUNCH of many tasks
// stays far below this).
const MaxBody = 16 << 20

// HTTPError is an error with the HTTP status Mesos would answer.
type HTTPError struct {
	Code int
	Msg  string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Code, http.StatusText(e.Code), e.Msg)
}

// Errorf builds an HTTPError.
func Errorf(code int, format string, args ...any) *HTTPError {
	return &HTTPError{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// WriteError answers err: its status if it is an HTTPError, 500 otherwise.
// The body is plain text, as Mesos answers.
func WriteError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	var he *HTTPError
	if errors.As(err, &he) {
		code = he.Code
		err = errors.New(he.Msg)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, err.Error())
}

func mediaType(v string) string {
	if v == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(v)
	if err != nil {
		return strings.TrimSpace(v)
	}
	return mt
}

// Negotiation is the outcome of content negotiation for one v1 call.
type Negotiation struct {
	Request  encoding.Codec // decodes the call body
	Response encoding.Codec // encodes events/responses
	// Framed is true when the client asked for application/recordio with the
	// message type in Message-Accept.
	Framed bool
}

// Negotiate picks codecs from Content-Type and Accept as Mesos does: 415 for
// an unsupported request type, 406 when no acceptable response type exists.
func Negotiate(r *http.Request) (Negotiation, error) {
	var n Negotiation
	ct := mediaType(r.Header.Get("Content-Type"))
	c, ok := codecs.ByMediaType[encoding.MediaType(ct)]
	if !ok {
		return n, Errorf(http.StatusUnsupportedMediaType, "Expecting 'Content-Type' of %s or %s", codecs.MediaTypeJSON, codecs.MediaTypeProtobuf)
	}
	n.Request = c
	n.Response = c
	accept := r.Header.Get("Accept")
	if accept == "" {
		return n, nil
	}
	for _, a := range strings.Split(accept, ",") {
		mt := mediaType(a)
		switch {
		case mt == MediaTypeRecordIO:
			ma := mediaType(r.Header.Get(HeaderMessageAccept))
			if ma == "" {
				ma = ct
			}
			if rc, ok := codecs.ByMediaType[encoding.MediaType(ma)]; ok {
				n.Response, n.Framed = rc, true
				return n, nil
			}
		case mt == "*/*" || mt == "application/*":
			return n, nil
		default:
			if rc, ok := codecs.ByMediaType[encoding.MediaType(mt)]; ok {
				n.Response = rc
				return n, nil
			}
		}
	}
	return n, Errorf(http.StatusNotAcceptable, "Expecting 'Accept' to allow %s or %s", codecs.MediaTypeJSON, codecs.MediaTypeProtobuf)
}

// DecodeCall reads the body of r into call with the negotiated codec; a body
// that does not parse is a 400, as in Mesos.
func DecodeCall(r *http.Request, n Negotiation, call encoding.Unmarshaler) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return Errorf(http.StatusBadRequest, "Failed to read body: %v", err)
	}
	if len(body) > MaxBody {
		return Errorf(http.StatusRequestEntityTooLarge, "body exceeds %d bytes", MaxBody)
	}
	dec := n.Request.NewDecoder(encoding.SourceReader(bytes.NewReader(body)))
	if err := dec.Decode(call); err != nil {
		return Errorf(http.StatusBadRequest, "Failed to parse body into Call protobuf: %v", err)
	}
	return nil
}

// Stream writes RecordIO framed messages to a chunked HTTP response and
// flushes after each one.
type Stream struct {
	w   http.ResponseWriter
	enc encoding.Encoder
}

// StartStream writes the 200 response headers of a v1 event stream
// (Content-Type of the message codec, or application/recordio plus
// Message-Content-Type when the client asked for it) and returns the stream.
// extra headers (e.g. Mesos-Stream-Id) are set before the status line.
func StartStream(w http.ResponseWriter, n Negotiation, extra http.Header) *Stream {
	h := w.Header()
	for k, vs := range extra {
		h[k] = vs
	}
	if n.Framed {
		h.Set("Content-Type", MediaTypeRecordIO)
		h.Set(HeaderMessageContentType, n.Response.Type.ContentType())
	} else {
		h.Set("Content-Type", n.Response.Type.ContentType())
	}
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	rw := recordio.NewWriter(w)
	return &Stream{w: w, enc: n.Response.NewEncoder(func() framing.Writer { return rw })}
}

// Send encodes m as one RecordIO record and flushes it to the client.
func (s *Stream) Send(m encoding.Marshaler) error {
	if err := s.enc.Encode(m); err != nil {
		return fmt.Errorf("write event: %w", err)
	}
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
	return nil
}

// Advertised is the address a server listening on ln announces: ip and port
// where they are set, otherwise the listener's (127.0.0.1 for an unspecified
// IP, as a Mesos process bound to 0.0.0.0 without --advertise_ip would not
// know better).
func Advertised(ln net.Listener, ip string, port int) (string, int) {
	tcp, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return ip, port
	}
	if ip == "" {
		ip = tcp.IP.String()
		if tcp.IP.IsUnspecified() {
			ip = "127.0.0.1"
		}
	}
	if port == 0 {
		port = tcp.Port
	}
	return ip, port
}
