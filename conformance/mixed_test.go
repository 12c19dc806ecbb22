package conformance

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opv1 "github.com/mesos/mesos-go/api/v1/lib/master"

	"github.com/kubemesos/kubemesos/devcluster"
)

// Roles of the two frameworks sharing the agents: the bridge's default
// --role and the batch framework's.
const (
	kubernetesRole = "kubernetes"
	batchRole      = "batch"
)

// dominantShares are the roles' dominant shares of the active agents'
// cpus and mem (allocated = used + offered, as the DRF allocator counts
// them) and their weights, from the master's operator API.
func dominantShares(t *testing.T) (shares, weights map[string]float64) {
	t.Helper()
	total := map[string]float64{}
	for _, a := range mesosAgents(t) {
		if !a.GetActive() {
			continue
		}
		for _, r := range a.GetTotalResources() {
			if r.GetScalar() != nil {
				total[r.GetName()] += r.GetScalar().GetValue()
			}
		}
	}
	shares, weights = map[string]float64{}, map[string]float64{}
	roles := operatorCall(t, &opv1.Call{Type: opv1.Call_GET_ROLES}).GetGetRoles().GetRoles()
	for _, role := range roles {
		weights[role.GetName()] = role.GetWeight()
		for _, r := range role.GetResources() {
			if name := r.GetName(); (name == "cpus" || name == "mem") && total[name] > 0 && r.GetScalar() != nil {
				shares[role.GetName()] = max(shares[role.GetName()], r.GetScalar().GetValue()/total[name])
			}
		}
	}
	return shares, weights
}

// frameworkUse is what each framework uses and is offered, by name, from
// the master's /master/state (a held offer counts in its role's share).
type frameworkUse struct{ usedCPUs, offeredCPUs, usedMem, offeredMem float64 }

func (u frameworkUse) String() string {
	return fmt.Sprintf("cpus %.2f+%.2f mem %.0f+%.0f", u.usedCPUs, u.offeredCPUs, u.usedMem, u.offeredMem)
}

// scalars are the cpus and mem of a /master/state resources object.
type scalars struct {
	CPUs float64 `json:"cpus"`
	Mem  float64 `json:"mem"`
}

func frameworkUses(t *testing.T) map[string]frameworkUse {
	t.Helper()
	body, err := httpGet(t.Context(), leaderURL(t)+"/master/state")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Frameworks []struct {
			Name    string  `json:"name"`
			Used    scalars `json:"used_resources"`
			Offered scalars `json:"offered_resources"`
		} `json:"frameworks"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	out := map[string]frameworkUse{}
	for _, f := range st.Frameworks {
		out[f.Name] = frameworkUse{f.Used.CPUs, f.Offered.CPUs, f.Used.Mem, f.Offered.Mem}
	}
	return out
}

// leaderURL is the URL of the leading Mesos master.
func leaderURL(t *testing.T) string {
	t.Helper()
	urls := strings.Split(cluster.mesosMaster, ",")
	if len(urls) == 1 {
		return urls[0]
	}
	name, _ := leadingMaster(t, "")
	for i, u := range urls {
		if devcluster.MasterName(i+1) == name {
			return u
		}
	}
	return urls[0]
}

// batchProgress is the last progress line of kubemesos demo-batch.
type batchProgress struct {
	mu            sync.Mutex
	done, running int
	lines         []string
}

var progressLine = regexp.MustCompile(`: (\d+)/\d+ done \(\d+ failed\), (\d+) running`)

func (b *batchProgress) read(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, line)
	if m := progressLine.FindStringSubmatch(line); m != nil {
		b.done, _ = strconv.Atoi(m[1])
		b.running, _ = strconv.Atoi(m[2])
	}
}

func (b *batchProgress) get() (done, running int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.done, b.running
}

// TestDemoBatchAndDeploymentShareAgentsByDRF: kubemesos demo-batch (a
// second Mesos framework, role batch: 0.2-cpu tasks of 3 s) and a
// Deployment whose replicas want more cpu than the agents have (role
// kubernetes) share the agents. Both progress — batch tasks finish, the
// Deployment keeps its Running replicas — and while both hold resources
// the roles' dominant shares read from the master (GET_ROLES, GET_AGENTS)
// split within 0.10 of their weights' split.
func TestDemoBatchAndDeploymentShareAgentsByDRF(t *testing.T) {
	// Long (about 45 s of contention), and it fails while the bridge holds
	// offers that no pending pod fits (docs/conformance.md): make conformance only.
	if os.Getenv(faultsEnv) != "1" {
		t.Skip("a long contention scenario: runs with " + faultsEnv + "=1 (make conformance)")
	}
	ns := namespace(t)
	// demo-batch sends its calls to the master it subscribed at: the leader.
	master := strings.TrimPrefix(leaderURL(t), "http://")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(cluster.repo, "bin", "kubemesos"), "demo-batch",
		"--master", master, "--role", batchRole, "--tasks", "400", "--cpus", "0.2", "--mem", "32", "--duration", "3s")
	// TERM lets it tear its framework down; its failover timeout is 0 anyway.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	progress := &batchProgress{}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			progress.read(sc.Text())
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})

	d := sleepers("hungry", 24, func(s *corev1.PodSpec) {
		s.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("16Mi")}
	})
	if _, err := cluster.client.AppsV1().Deployments(ns).Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Contention: replicas Pending for want of cpu while batch tasks queue.
	eventually(t, 2*time.Minute, "both frameworks running work, replicas still pending", func() (bool, string) {
		running, unbound, _ := podsOf(t, ns, "hungry")
		done, r := progress.get()
		return len(running) > 0 && len(unbound) > 0 && done+r > 0, fmt.Sprintf("%d replicas running, %d unbound; batch %d done %d running", len(running), len(unbound), done, r)
	})
	doneAtStart, _ := progress.get()
	runningAtStart, _, _ := podsOf(t, ns, "hungry")

	// Sample the shares for 40 s. The batch framework holds nothing for a
	// moment between its waves of tasks (its own offer round trip), so
	// contention is a sample where both roles hold resources; judge the
	// median of each role's part of the two shares in those against its
	// weight's part.
	var fracK, fracB []float64
	var weights map[string]float64
	idle := 0
	for end := time.Now().Add(40 * time.Second); time.Now().Before(end); time.Sleep(2 * time.Second) {
		shares, w := dominantShares(t)
		weights = w
		use := frameworkUses(t)
		t.Logf("dominant shares: %s %.3f, %s %.3f; used+offered: kubemesos %v, demo-batch %v",
			kubernetesRole, shares[kubernetesRole], batchRole, shares[batchRole], use["kubemesos"], use["demo-batch"])
		if shares[kubernetesRole] == 0 || shares[batchRole] == 0 {
			idle++
			continue
		}
		sum := shares[kubernetesRole] + shares[batchRole]
		fracK = append(fracK, shares[kubernetesRole]/sum)
		fracB = append(fracB, shares[batchRole]/sum)
	}
	wk, wb := weightOr1(weights, kubernetesRole), weightOr1(weights, batchRole)
	wantK := wk / (wk + wb)
	gotK, gotB := median(fracK), median(fracB)
	t.Logf("%d samples with both roles holding resources (%d with one idle): median part of the two shares %s %.3f, %s %.3f; by weight (%g:%g) %.3f and %.3f",
		len(fracK), idle, kubernetesRole, gotK, batchRole, gotB, wk, wb, wantK, 1-wantK)
	if len(fracK) < 5 {
		t.Fatalf("only %d samples in which both roles hold resources: one is starved", len(fracK))
	}
	defer func() {
		// Last, so the report's detail names it.
		if d := gotK - wantK; d > 0.10 || d < -0.10 {
			t.Errorf("%s holds %.3f of the two roles' dominant shares, %s %.3f; their weights give %.3f and %.3f (want within 0.10)", kubernetesRole, gotK, batchRole, gotB, wantK, 1-wantK)
		}
	}()

	doneAtEnd, _ := progress.get()
	runningAtEnd, _, _ := podsOf(t, ns, "hungry")
	t.Logf("batch: %d tasks done during the window (%d → %d); Deployment: %d → %d Running replicas", doneAtEnd-doneAtStart, doneAtStart, doneAtEnd, len(runningAtStart), len(runningAtEnd))
	if doneAtEnd <= doneAtStart {
		t.Errorf("the batch framework made no progress under contention: %d tasks done before and after (%v)", doneAtEnd, lastLines(progress, 3))
	}
	if len(runningAtEnd) == 0 || len(runningAtEnd) < len(runningAtStart) {
		t.Errorf("the Deployment lost ground: %d Running replicas, %d before", len(runningAtEnd), len(runningAtStart))
	}
}

func weightOr1(w map[string]float64, role string) float64 {
	if v := w[role]; v > 0 {
		return v
	}
	return 1
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func lastLines(b *batchProgress, n int) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lines[max(0, len(b.lines)-n):]
}
