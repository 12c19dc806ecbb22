package master

import (
	"net/http"
	"sync"
	"time"
)

// leadership is the master's view of the leader election. A master without
// an election backend is always the leader.
type leadership struct {
	mu          sync.Mutex
	contending  bool      // an election backend is configured
	leader      bool      // this master is the elected leader
	leaderAddr  string    // host:port of the current leader, "" when unknown
	electedTime time.Time // when this master became leader
}

// isLeader reports whether this master is the leading master.
func (m *Master) isLeader() bool {
	m.ha.mu.Lock()
	defer m.ha.mu.Unlock()
	return !m.ha.contending || m.ha.leader
}

// leaderAddress is the host:port of the leader ("" when none is known).
func (m *Master) leaderAddress() string {
	m.ha.mu.Lock()
	defer m.ha.mu.Unlock()
	if !m.ha.contending || m.ha.leader {
		return m.address()
	}
	return m.ha.leaderAddr
}

// redirectToLeader answers r with 307 and the leader's address when this
// master is not the leader (503 when no leader is known), as a Mesos master
// does for scheduler and operator calls. It reports whether it answered.
func (m *Master) redirectToLeader(w http.ResponseWriter, r *http.Request) bool {
	if m.isLeader() {
		return false
	}
	addr := m.leaderAddress()
	if addr == "" {
		http.Error(w, "No leader elected", http.StatusServiceUnavailable)
		return true
	}
	w.Header().Set("Location", "//"+addr+r.URL.RequestURI())
	w.WriteHeader(http.StatusTemporaryRedirect)
	return true
}
