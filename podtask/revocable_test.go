package podtask

import "testing"

func TestRevocableExecutorID(t *testing.T) {
	id := RevocableExecutorIDOf(ExecutorIDOf(nil, nil))
	if !IsRevocableExecutorID(id) || IsExecutorID(id) {
		t.Errorf("%s: revocable %v, kubelet-executor %v", id, IsRevocableExecutorID(id), IsExecutorID(id))
	}
	for _, other := range []string{ExecutorID, ExecutorIDOf(nil, nil), "revocable-", "revocable-other", "x-revocable-kubelet-executor"} {
		if IsRevocableExecutorID(other) {
			t.Errorf("%s taken for a revocable executor", other)
		}
	}
}
