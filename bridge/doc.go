// Package bridge is kubemesos' Mesos framework: it subscribes to a Mesos master
// through the v1 scheduler HTTP API, holds the offers it receives in an OfferBook,
// matches pending pods against them (package offermatcher) and launches one task
// per pod on each agent's kubelet-executor. It kills a pod's task when the pod is
// deleted, acknowledges status updates and keeps a TaskRegistry of what it launched.
//
// Pipeline:
//
//	k8sapi.PodFeed ──pending pods──► Scheduler.cycle ◄──offers── Framework (SUBSCRIBE stream)
//	                                        │
//	                                        ├─ ACCEPT(LAUNCH) per used offer, DECLINE the rest after --offer-ttl
//	                                        └─ FailedScheduling events for pods that fit no offer (queued: PodWriter)
//
// Glossary:
//   - OfferBook: offers held by the bridge, each until used, rescinded or older than the offer TTL.
//   - TaskRegistry: every task the bridge launched, by pod UID, with its last known state.
//   - cycle: one level-based pass over (pending pods, held offers); it looks at the world
//     as it is, not at the event that woke it.
//   - Election: several bridges campaign in etcd; the leader runs a Scheduler per term,
//     the standbys keep their caches warm. EtcdStore keeps the framework ID and the
//     LaunchIntents, every write fenced by the term's election key revision.
//   - LaunchIntent: written before the ACCEPT of its task and kept until the task ends, so
//     a new leader reconciles every task that may run before it launches anything.
//   - PodWriter: performs the loop's writes to pods and Nodes on its own goroutine,
//     rate-limited and retried, so the loop never waits for the API server.
//   - agent in maintenance: Mesos takes the agent's machine back (inverse offer, offers
//     with unavailability); from --drain-ahead before the window its Node is tainted and
//     drained (NodeDrainer, off the loop), and the inverse offer accepted once no
//     kubemesos task runs there (maintenance.go).
//   - task ID: pod.<uid>.<epoch>.<seq>, one per launch (podtask.TaskID), never reused by the
//     framework across relaunches and leaders.
package bridge
