// Command etcd is the real etcd server at the version k8s.io/kubernetes pins,
// built here so dev and CI run the same etcd the API server was tested with.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
