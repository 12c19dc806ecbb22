package k8sapi

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// frameworkIDKey is the ConfigMap key holding the Mesos framework ID.
const frameworkIDKey = "frameworkID"

// ConfigMapFrameworkStore keeps the bridge's Mesos framework ID in a ConfigMap,
// so a restarted bridge subscribes again as the same framework and keeps its
// tasks. (The HA bridge keeps it in its own etcd; a single bridge needs nothing
// but the API server.)
type ConfigMapFrameworkStore struct {
	Client    kubernetes.Interface
	Namespace string
	Name      string
}

// Load returns the stored framework ID, "" when none is stored yet.
func (s ConfigMapFrameworkStore) Load(ctx context.Context) (string, error) {
	cm, err := s.Client.CoreV1().ConfigMaps(s.Namespace).Get(ctx, s.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("load framework ID from configmap %s/%s: %w", s.Namespace, s.Name, err)
	}
	return cm.Data[frameworkIDKey], nil
}

// Save stores the framework ID.
func (s ConfigMapFrameworkStore) Save(ctx context.Context, id string) error {
	cms := s.Client.CoreV1().ConfigMaps(s.Namespace)
	cm, err := cms.Get(ctx, s.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = cms.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace},
			Data:       map[string]string{frameworkIDKey: id},
		}, metav1.CreateOptions{})
	case err == nil:
		if cm.Data[frameworkIDKey] == id {
			return nil
		}
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data[frameworkIDKey] = id
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("save framework ID to configmap %s/%s: %w", s.Namespace, s.Name, err)
	}
	return nil
}
