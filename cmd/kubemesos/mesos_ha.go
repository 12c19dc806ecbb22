package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/kubemesos/kubemesos/mesoslocal/master"
)

// haAuthFlags adds the master's leader election and authentication flags
// to fs; the returned func applies them to cfg after parsing.
func haAuthFlags(fs *flag.FlagSet, cfg *master.Config) func() error {
	endpoints := fs.String("etcd_endpoints", "", "comma-separated etcd endpoints for leader election among masters (stands in for --zk); standalone leader when empty")
	fs.StringVar(&cfg.HA.EtcdPrefix, "etcd_prefix", "/mesos", "etcd key prefix of the election and registry")
	fs.Var(mesosDuration{&cfg.HA.SessionTTL}, "zk_session_timeout", "a stopped leader is replaced after this long (default 10secs)")
	fs.BoolVar(&cfg.Auth.AuthenticateFrameworks, "authenticate_frameworks", false, "require HTTP basic authentication of schedulers")
	httpAuth := fs.Bool("authenticate_http_frameworks", false, "same as --authenticate_frameworks")
	creds := fs.String("credentials", "", "credentials file: JSON {\"credentials\":[{\"principal\":..,\"secret\":..}]} or 'principal secret' lines")
	return func() error {
		for _, e := range strings.Split(*endpoints, ",") {
			if e = strings.TrimSpace(e); e != "" {
				if !strings.Contains(e, "://") {
					e = "http://" + e
				}
				cfg.HA.EtcdEndpoints = append(cfg.HA.EtcdEndpoints, e)
			}
		}
		cfg.Auth.AuthenticateFrameworks = cfg.Auth.AuthenticateFrameworks || *httpAuth
		if *creds != "" {
			c, err := master.LoadCredentials(*creds)
			if err != nil {
				return fmt.Errorf("--credentials: %w", err)
			}
			cfg.Auth.Credentials = c
		}
		if cfg.Auth.AuthenticateFrameworks && len(cfg.Auth.Credentials) == 0 {
			return fmt.Errorf("--authenticate_frameworks needs --credentials")
		}
		return nil
	}
}
