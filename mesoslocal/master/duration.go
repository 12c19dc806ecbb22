package master

import (
	"strconv"
	"time"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/duration"
)

func itoa(i int) string { return strconv.Itoa(i) }

func formatDuration(d time.Duration) string { return duration.Format(d) }
