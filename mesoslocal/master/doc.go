// Package master is mesoslocal's Mesos master: it serves the public Mesos v1
// scheduler API (POST /api/v1/scheduler, JSON or protobuf, RecordIO event
// streams with Mesos-Stream-Id), /master/state, /master/redirect and /health,
// keeps agents registered over mesoslocal's internal link (package
// internal/link), and offers each agent's unallocated resources to frameworks
// every allocation interval, lowest dominant share first.
//
// Pipeline: SUBSCRIBE → framework registered → allocate() makes one offer per
// agent → ACCEPT(LAUNCH) validates tasks against the offer and sends them to
// the agent → the agent's status updates come back over the link and go out as
// UPDATE events → ACKNOWLEDGE goes back to the agent.
//
// Glossary: "used" resources are those of non-terminal tasks and running
// executors; "offered" those in outstanding offers; "free" = total − used −
// offered. A filter (from DECLINE or ACCEPT refuse_seconds) keeps resources
// of one agent away from one framework until it expires or REVIVE.
//
// State lives in memory (like Mesos' --registry=in_memory); after a restart
// the master learns agents, their tasks and frameworks again when the agents
// re-register, and frameworks re-SUBSCRIBE with their IDs.
package master
