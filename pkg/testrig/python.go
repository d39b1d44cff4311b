package testrig

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Python returns the interpreter of a Python venv holding the given pip requirements
// (lines of a requirements file, e.g. "pyarrow==26.0.1"), building it on first use under
// $STRATA_RIG_DIR/pyenv/<key> (default ~/.cache/strata-rig/pyenv), where key hashes the
// requirements and python3's version. A lock file serialises builders across processes; a
// marker file says a venv is complete, so a build that died half-way is redone. It fails
// the test when python3 is missing or pip cannot install the requirements.
func Python(t testing.TB, requirements ...string) string {
	t.Helper()
	start := time.Now()
	base, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("this test needs python3 on PATH: %v", err)
	}
	version, err := exec.Command(base, "-c", "import sys; print(sys.version)").Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	req := strings.Join(requirements, "\n") + "\n"
	sum := sha256.Sum256(append(append([]byte(req), 0), version...))
	root := filepath.Join(rigDir(t), "pyenv")
	dir := filepath.Join(root, hex.EncodeToString(sum[:8]))
	python := filepath.Join(dir, "bin", "python")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	unlock := lockPath(t, dir+".lock")
	defer unlock()
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		t.Logf("python venv %s (warm) ready in %v", dir, time.Since(start).Round(time.Millisecond))
		return python
	}
	buildVenv(t, base, dir, req)
	t.Logf("python venv %s (cold) built in %v", dir, time.Since(start).Round(time.Millisecond))
	return python
}

func buildVenv(t testing.TB, base, dir, req string) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil { // a build that died half-way
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, base, "-m", "venv", dir).CombinedOutput(); err != nil {
		t.Fatalf("python3 -m venv %s: %v\n%s", dir, err, out)
	}
	reqFile := filepath.Join(dir, "requirements.txt")
	if err := os.WriteFile(reqFile, []byte(req), 0o644); err != nil {
		t.Fatal(err)
	}
	pip := exec.CommandContext(ctx, filepath.Join(dir, "bin", "python"), "-m", "pip", "install",
		"--disable-pip-version-check", "-q", "-r", reqFile)
	if out, err := pip.CombinedOutput(); err != nil {
		t.Fatalf("pip install -r %s: %v\n%s", reqFile, err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, ".complete"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// rigDir is where the test rig keeps what it downloads, as scripts/lib.sh decides it.
func rigDir(t testing.TB) string {
	if d := os.Getenv("STRATA_RIG_DIR"); d != "" {
		return d
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatalf("no cache directory for the python venv: %v", err)
	}
	return filepath.Join(cache, "strata-rig")
}

func lockPath(t testing.TB, path string) (unlock func()) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatal(err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }
}
