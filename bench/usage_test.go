package bench

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and a ')' must not shift the fields.
	stat := "4242 (kube sch) ed) S 1 4242 4242 0 -1 4194560 12345 0 0 0 250 75 0 0 20 0 12 0 1000 200000000 5000 18446744073709551615\n"
	got, err := parseStatCPU([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if want := 325 * clockTick; got != want {
		t.Errorf("cpu = %v, want %v", got, want)
	}
	if _, err := parseStatCPU([]byte("4242 (x) S 1 2")); err == nil {
		t.Error("short stat parsed")
	}
}

func TestProcessUsageOfSelf(t *testing.T) {
	deadline := time.Now().Add(300 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	u, err := ProcessUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.CPU < 100*time.Millisecond || u.PeakRSS < 1<<20 {
		t.Errorf("usage of a process that spun 300ms: %+v", u)
	}
	if _, err := ProcessUsage(-1); err == nil {
		t.Error("usage of pid -1")
	}
}

func TestSelfMeter(t *testing.T) {
	m := StartSelfMeter(context.Background())
	defer m.Stop()
	hold := make([]byte, 64<<20)
	for i := range hold {
		hold[i] = byte(i)
	}
	time.Sleep(3 * selfRSSInterval)
	u, err := m.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if u.PeakRSS < 48<<20 {
		t.Errorf("peak RSS growth %d MB after touching 64 MB", u.PeakRSS>>20)
	}
	if u.CPU <= 0 {
		t.Errorf("cpu %v after touching 64 MB", u.CPU)
	}
	_ = hold[len(hold)-1]
}
