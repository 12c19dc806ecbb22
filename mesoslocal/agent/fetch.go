package agent

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// fetchURIs does what Mesos' fetcher does for the URIs of a CommandInfo:
// http(s):// URIs are downloaded and file:// or absolute paths copied into
// the sandbox; .tar, .tar.gz and .tgz archives are extracted unless extract
// is false; executable sets mode 0755.
func fetchURIs(ctx context.Context, dir string, uris []mesos.CommandInfo_URI) error {
	for _, u := range uris {
		if err := fetchURI(ctx, dir, u); err != nil {
			return fmt.Errorf("fetch %q: %w", u.Value, err)
		}
	}
	return nil
}

func fetchURI(ctx context.Context, dir string, u mesos.CommandInfo_URI) error {
	name := u.GetOutputFile()
	var src io.ReadCloser
	parsed, err := url.Parse(u.Value)
	if err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	switch parsed.Scheme {
	case "http", "https":
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.Value, nil)
		if err != nil {
			return fmt.Errorf("build request: %w", err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("download: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return fmt.Errorf("download: %s", resp.Status)
		}
		src = resp.Body
		if name == "" {
			name = path.Base(parsed.Path)
		}
	case "file", "":
		p := parsed.Path
		if parsed.Scheme == "" {
			p = u.Value
		}
		if !filepath.IsAbs(p) {
			return fmt.Errorf("relative paths are not supported")
		}
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("open: %w", err)
		}
		src = f
		if name == "" {
			name = filepath.Base(p)
		}
	default:
		return fmt.Errorf("unsupported scheme %q", parsed.Scheme)
	}
	defer src.Close()
	if name == "" || name == "." || name == "/" || strings.Contains(name, "..") {
		return fmt.Errorf("cannot derive a file name")
	}
	dst := filepath.Join(dir, name)
	mode := os.FileMode(0o644)
	if u.GetExecutable() {
		mode = 0o755
	}
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return fmt.Errorf("copy: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	if u.GetExecutable() || !u.GetExtract() {
		return nil
	}
	switch {
	case strings.HasSuffix(name, ".tar.gz"), strings.HasSuffix(name, ".tgz"):
		return extractTar(dst, dir, true)
	case strings.HasSuffix(name, ".tar"):
		return extractTar(dst, dir, false)
	}
	return nil
}

func extractTar(archive, dir string, gz bool) error {
	f, err := os.Open(archive)
	if err != nil {
		return fmt.Errorf("open archive: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if gz {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("gunzip: %w", err)
		}
		defer zr.Close()
		r = zr
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		target := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return fmt.Errorf("extract: %w", err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return fmt.Errorf("extract: %w", err)
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o777)
			if err != nil {
				return fmt.Errorf("extract: %w", err)
			}
			if _, err := io.Copy(out, tr); err != nil {
				out.Close()
				return fmt.Errorf("extract: %w", err)
			}
			out.Close()
		}
	}
}

func newUUIDBytes() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return b
}

func newUUID() string {
	b := newUUIDBytes()
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
