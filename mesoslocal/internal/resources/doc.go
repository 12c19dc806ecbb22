// Package resources parses Mesos agent resource and attribute flags
// ("cpus:2;mem:4096;ports:[31000-32000]", "rack:r1;zone:a") and does the
// resource arithmetic the master needs (sums, containment, dominant shares),
// on top of mesos-go's Resources type.
package resources
