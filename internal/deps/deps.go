package deps
import (
	_ "github.com/mesos/mesos-go/api/v1/lib"
	_ "github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	_ "github.com/mesos/mesos-go/api/v1/lib/httpcli/httpexec"
	_ "github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	_ "github.com/mesos/mesos-go/api/v1/lib/executor/config"
	_ "k8s.io/client-go/kubernetes"
	_ "k8s.io/client-go/tools/events"
	_ "k8s.io/client-go/tools/record"
	_ "k8s.io/klog/v2"
	_ "k8s.io/api/core/v1"
	_ "k8s.io/cri-api/pkg/apis/runtime/v1"
)
