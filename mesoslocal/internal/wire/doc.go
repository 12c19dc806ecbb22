// Package wire holds what the mesoslocal master and agent share on the HTTP
// side of the Mesos v1 APIs: content negotiation between application/json and
// application/x-protobuf (with mesos-go's codecs), RecordIO event streams, and
// Mesos-style error responses.
package wire
