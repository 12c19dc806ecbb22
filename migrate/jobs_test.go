package migrate

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
)

// TestCronJobNamesFitTheirJobs: a CronJob's name leaves room for the
// suffix of its Jobs, also for long ids and several schedules.
func TestCronJobNamesFitTheirJobs(t *testing.T) {
	id := strings.Repeat("reporting-", 6) + "daily"
	jobs, err := DecodeMetronome([]byte(`{"id": "` + id + `", "run": {"cmd": "x", "docker": {"image": "busybox"}},
	  "schedules": [{"id": "morning", "cron": "0 6 * * *"}, {"id": "evening", "cron": "0 18 * * 1-7"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	res := ConvertMetronome(&jobs[0], Options{})
	if len(res.Objects) != 2 {
		t.Fatalf("%d objects, want a CronJob per schedule", len(res.Objects))
	}
	names := map[string]bool{}
	for _, o := range res.Objects {
		cj := o.(*batchv1.CronJob)
		if len(cj.Name) > CronJobNameMax {
			t.Errorf("CronJob %s: %d characters, more than %d", cj.Name, len(cj.Name), CronJobNameMax)
		}
		names[cj.Name] = true
	}
	if len(names) != 2 {
		t.Errorf("CronJob names %v are not distinct", names)
	}
	if got := res.Objects[1].(*batchv1.CronJob).Spec.Schedule; got != "0 18 * * 1-6,0" {
		t.Errorf("evening schedule %q", got)
	}
}
