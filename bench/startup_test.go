package bench

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestParseLaunches(t *testing.T) {
	log := strings.Join([]string{
		`I1202 00:26:49.241315    5115 scheduler.go:808] "Launched pod" logger="bridge" pod="ns/a" task="ns.a.1" agent="x" offer="o1"`,
		`I1202 00:26:49.250000    5115 nodetasks.go:88] "Launched node task" agent="x" task="node" offer="o1"`,
		`W1202 00:26:50.000000    5115 scheduler.go:808] "Launched pod" pod="ns/warning" task="t"`,
		`I1202 00:26:50.000001    5115 scheduler.go:808] "Launched pod" logger="bridge" pod="ns/b" task="ns.b.1" agent="y" offer="o2"`,
		`I1202 00:27:01.500000    5115 scheduler.go:808] "Launched pod" pod="ns/a" task="ns.a.2" agent="y" offer="o3"`,
		`garbage`,
	}, "\n")
	got, err := ParseLaunches(strings.NewReader(log), 2026, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Time{
		// The last launch of a pod counts (a relaunch replaces the first).
		"ns/a": time.Date(2026, 12, 2, 0, 27, 1, 500000000, time.UTC),
		"ns/b": time.Date(2026, 12, 2, 0, 26, 50, 1000, time.UTC),
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if !got[k].Equal(v) {
			t.Errorf("%s: %v, want %v", k, got[k], v)
		}
	}
	if _, err := ParseLaunches(strings.NewReader(`I1302 00:26:49.241315    5115 s.go:1] "Launched pod" pod="ns/a"`), 2026, time.UTC); err == nil {
		t.Error("month 13 parsed")
	}
}

func TestSummarizeStartup(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	times := map[string]PodTimes{}
	for i := 1; i <= 10; i++ {
		// launch at 100 ms, bound 20 ms later, Running and Ready at 100·i ms after the launch.
		times[string(rune('a'+i))] = PodTimes{Sent: at(0), Launch: at(100), Bound: at(120), Running: at(100 + 100*i), Ready: at(100 + 100*i)}
	}
	times["never-ready"] = PodTimes{Sent: at(0), Launch: at(100), Bound: at(120)}
	s := SummarizeStartup(times, true)
	if s.Pods != 11 || s.Missing != 1 {
		t.Fatalf("pods %d missing %d, want 11 and 1", s.Pods, s.Missing)
	}
	if s.StartToReady.P50 != 500*time.Millisecond || s.StartToReady.P99 != time.Second {
		t.Errorf("launch→Ready %+v, want p50 500ms p99 1s", s.StartToReady)
	}
	if s.CreateToRunning.P50 != 600*time.Millisecond || s.CreateToRunning.P90 != time.Second {
		t.Errorf("creation→Running %+v", s.CreateToRunning)
	}
	// From the binding instead: 20 ms less each.
	if b := SummarizeStartup(times, false); b.StartToReady.P50 != 480*time.Millisecond {
		t.Errorf("bound→Ready p50 %v, want 480ms", b.StartToReady.P50)
	}
	// Without launch times every pod is incomplete.
	delete(times, "never-ready")
	for k, v := range times {
		v.Launch = time.Time{}
		times[k] = v
	}
	if s := SummarizeStartup(times, true); s.Missing != 10 || s.StartToReady.P50 != 0 {
		t.Errorf("no launches: %+v", s)
	}
}

func TestWriteStartupTable(t *testing.T) {
	var b strings.Builder
	err := WriteStartupTable(&b, []StartupRow{
		{Contender: KubemesosContender, Start: "task LAUNCH", Summary: StartupSummary{Pods: 30, Missing: 1,
			CreateToRunning: Latencies{P50: 2 * time.Second, P90: 3 * time.Second, P99: 4 * time.Second},
			StartToReady:    Latencies{P50: time.Second, P99: 2 * time.Second}}},
		{Contender: PlainKubeletContender, Start: "bound", Summary: StartupSummary{Pods: 30,
			CreateToRunning: Latencies{P50: time.Second, P90: 2 * time.Second, P99: 2 * time.Second},
			StartToReady:    Latencies{P50: 500 * time.Millisecond, P99: time.Second}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines:\n%s", len(lines), b.String())
	}
	for _, want := range []string{"| kubemesos | 29 (1 incomplete) | 2000 (2.00×) | 3000 (1.50×) | 4000 (2.00×) | task LAUNCH | 1000 (2.00×) | 2000 (2.00×) |",
		"| kubelet | 30 | 1000 (1.00×) |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestStartWatchObserve(t *testing.T) {
	w := NewStartWatch(1)
	w.Sent("p")
	pod := &corev1.Pod{}
	pod.Name = "p"
	w.observe(pod)
	pod.Spec.NodeName = "n"
	w.observe(pod)
	pod.Status.Phase = corev1.PodRunning
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
	w.observe(pod)
	select {
	case <-w.AllReady():
		t.Fatal("ready before the Ready condition")
	default:
	}
	pod.Status.Conditions[0].Status = corev1.ConditionTrue
	w.observe(pod)
	w.observe(pod) // seen again: the first time counts
	<-w.AllReady()
	tm := w.Times()["p"]
	if tm.Sent.IsZero() || tm.Bound.Before(tm.Sent) || tm.Running.Before(tm.Bound) || tm.Ready.Before(tm.Running) {
		t.Errorf("times out of order: %+v", tm)
	}
}
