package agent

import (
	"archive/tar"
	"archive/zip"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
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
// the sandbox (as output_file when set); archives (.tar, .tar.gz, .tgz,
// .tar.bz2, .tbz2, .zip) are extracted and .gz files gunzipped unless
// extract is false; executable sets mode 0755. URIs with cache set are
// kept in the fetcher cache directory and copied from there next time.
func (a *Agent) fetchURIs(ctx context.Context, dir string, uris []mesos.CommandInfo_URI) error {
	for _, u := range uris {
		if err := fetchURI(ctx, dir, a.cfg.FetcherCacheDir, u); err != nil {
			return fmt.Errorf("fetch %q: %w", u.Value, err)
		}
	}
	return nil
}

func fetchURI(ctx context.Context, dir, cacheDir string, u mesos.CommandInfo_URI) error {
	name := u.GetOutputFile()
	if name == "" {
		name = uriBaseName(u.Value)
	}
	if name == "" || name == "." || name == "/" || strings.Contains(name, "..") {
		return fmt.Errorf("cannot derive a file name")
	}
	var src io.ReadCloser
	if u.GetCache() && cacheDir != "" {
		cached, err := cachedCopy(ctx, cacheDir, u.Value)
		if err != nil {
			return err
		}
		f, err := os.Open(cached)
		if err != nil {
			return fmt.Errorf("open cached: %w", err)
		}
		src = f
	} else {
		var err error
		if src, err = openURI(ctx, u.Value); err != nil {
			return err
		}
	}
	return storeFetched(src, dir, name, u)
}

// uriBaseName is the file name a URI is fetched to by default.
func uriBaseName(uri string) string {
	parsed, err := url.Parse(uri)
	if err != nil {
		return ""
	}
	if parsed.Scheme == "" {
		return filepath.Base(uri)
	}
	return path.Base(parsed.Path)
}

// cachedCopy returns the cache file of uri, downloading it first when it
// is not cached yet.
func cachedCopy(ctx context.Context, cacheDir, uri string) (string, error) {
	sum := sha256.Sum256([]byte(uri))
	p := filepath.Join(cacheDir, hex.EncodeToString(sum[:]))
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("create cache dir: %w", err)
	}
	src, err := openURI(ctx, uri)
	if err != nil {
		return "", err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(cacheDir, ".fetch-*")
	if err != nil {
		return "", fmt.Errorf("create cache file: %w", err)
	}
	if _, err := io.Copy(tmp, src); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return "", fmt.Errorf("download to cache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("close cache file: %w", err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return "", fmt.Errorf("store cache file: %w", err)
	}
	return p, nil
}

func openURI(ctx context.Context, uri string) (io.ReadCloser, error) {
	parsed, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	switch parsed.Scheme {
	case "http", "https":
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("build request: %w", err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("download: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			cancel()
			return nil, fmt.Errorf("download: %s", resp.Status)
		}
		return cancelOnClose{ReadCloser: resp.Body, cancel: cancel}, nil
	case "file", "":
		p := parsed.Path
		if parsed.Scheme == "" {
			p = uri
		}
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("relative paths are not supported")
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("open: %w", err)
		}
		return f, nil
	}
	return nil, fmt.Errorf("unsupported scheme %q", parsed.Scheme)
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// storeFetched writes src to dir/name and extracts it as asked.
func storeFetched(src io.ReadCloser, dir, name string, u mesos.CommandInfo_URI) error {
	defer src.Close()
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
		return extractTar(dst, dir, "gz")
	case strings.HasSuffix(name, ".tar.bz2"), strings.HasSuffix(name, ".tbz2"):
		return extractTar(dst, dir, "bz2")
	case strings.HasSuffix(name, ".tar"):
		return extractTar(dst, dir, "")
	case strings.HasSuffix(name, ".zip"):
		return extractZip(dst, dir)
	case strings.HasSuffix(name, ".gz"):
		return gunzipFile(dst, strings.TrimSuffix(dst, ".gz"))
	}
	return nil
}

func extractTar(archive, dir, compression string) error {
	f, err := os.Open(archive)
	if err != nil {
		return fmt.Errorf("open archive: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	switch compression {
	case "gz":
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("gunzip: %w", err)
		}
		defer zr.Close()
		r = zr
	case "bz2":
		r = bzip2.NewReader(f)
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
		case tar.TypeSymlink:
			if filepath.IsAbs(h.Linkname) || strings.Contains(h.Linkname, "..") {
				return fmt.Errorf("extract: symlink %s points outside the sandbox", h.Name)
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return fmt.Errorf("extract: %w", err)
			}
			_ = os.Remove(target)
			if err := os.Symlink(h.Linkname, target); err != nil {
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

func extractZip(archive, dir string) error {
	zr, err := zip.OpenReader(archive)
	if err != nil {
		return fmt.Errorf("open zip: %w", err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		target := filepath.Join(dir, filepath.Clean("/"+f.Name))
		if f.FileInfo().IsDir() {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return fmt.Errorf("extract: %w", err)
			}
			continue
		}
		if !f.Mode().IsRegular() {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return fmt.Errorf("extract: %w", err)
		}
		in, err := f.Open()
		if err != nil {
			return fmt.Errorf("extract %s: %w", f.Name, err)
		}
		mode := f.Mode().Perm()
		if mode == 0 {
			mode = 0o644
		}
		out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
		if err != nil {
			in.Close()
			return fmt.Errorf("extract: %w", err)
		}
		_, err = io.Copy(out, in)
		in.Close()
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("extract %s: %w", f.Name, err)
		}
	}
	return nil
}

func gunzipFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		return fmt.Errorf("gunzip: %w", err)
	}
	defer zr.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	if _, err := io.Copy(out, zr); err != nil {
		out.Close()
		return fmt.Errorf("gunzip: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
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
