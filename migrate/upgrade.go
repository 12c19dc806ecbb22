package migrate

import (
	"fmt"
	"math"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// rollingUpdate converts minimumHealthCapacity and maximumOverCapacity
// (fractions of instances, Marathon's defaults 1 and 1) to maxUnavailable
// and maxSurge percentages: Kubernetes rounds maxUnavailable down and
// maxSurge up, as Marathon rounds the healthy minimum up and the extra
// capacity down... closely enough that the percentages are the same rule.
func rollingUpdate(r *Report, field string, u *UpgradeStrategy) *appsv1.RollingUpdateDeployment {
	minHealth, maxOver := 1.0, 1.0
	if u != nil {
		if u.MinimumHealthCapacity != nil {
			minHealth = *u.MinimumHealthCapacity
		}
		if u.MaximumOverCapacity != nil {
			maxOver = *u.MaximumOverCapacity
		}
	}
	unavailable := percent(1 - minHealth)
	surge := percent(maxOver)
	ru := &appsv1.RollingUpdateDeployment{MaxUnavailable: &unavailable, MaxSurge: &surge}
	if u == nil {
		return ru
	}
	if unavailable.String() == "0%" && surge.String() == "0%" {
		one := intstr.FromInt32(1)
		ru.MaxUnavailable = &one
		r.approx(field, "minimumHealthCapacity 1 and maximumOverCapacity 0 cannot replace anything in Kubernetes (maxSurge and maxUnavailable may not both be 0): maxUnavailable 1, maxSurge 0")
		return ru
	}
	r.converted(field, "RollingUpdate maxUnavailable %s, maxSurge %s", unavailable.String(), surge.String())
	return ru
}

func percent(f float64) intstr.IntOrString {
	return intstr.FromString(fmt.Sprintf("%d%%", int(math.Round(f*100))))
}
