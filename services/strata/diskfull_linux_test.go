package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/strata-platform/strata/pkg/embedded"
	"github.com/strata-platform/strata/services/command"
)

// TestDev_FullDisk runs `strata dev` on a real tmpfs and fills it until less than the
// engine's disk reserve is free: appends are refused with a clear problem (and nothing is
// written), reads keep working, and once space is freed appends succeed again with nothing
// acknowledged lost.
func TestDev_FullDisk(t *testing.T) {
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=96m"); err != nil {
		t.Skipf("cannot mount a tmpfs on %s (%v): this test needs root or CAP_SYS_ADMIN", mnt, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	data := filepath.Join(mnt, "data")
	addr := freeAddr(t)
	_, stop := runInProcess(t, "dev", "--data", data, "--http", addr)
	defer stop()
	base := "http://" + addr + "/v1/streams/order/o-1"

	post := func(id string) (*http.Response, []byte) {
		body := fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/t","type":"t","data":{"n":1}}`, id)
		resp, err := http.Post(base+"/events", "application/cloudevents+json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, b
	}
	get := func(url string) []byte {
		resp, err := http.Get(url)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s on a full disk: %v %v", url, resp, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return b
	}
	for i := 1; i <= 5; i++ {
		if resp, b := post(fmt.Sprintf("e-%d", i)); resp.StatusCode != http.StatusCreated {
			t.Fatalf("append %d: %d %s", i, resp.StatusCode, b)
		}
	}

	// Fill the file system until less than the reserve is free.
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for {
		var st syscall.Statfs_t
		if err := syscall.Statfs(mnt, &st); err != nil {
			t.Fatal(err)
		}
		if st.Bavail*uint64(st.Bsize) < embedded.DefaultDiskReserve/2 {
			break
		}
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			t.Fatal(err)
		}
	}
	_ = f.Close()

	resp, b := post("e-full")
	var p command.Problem
	_ = json.Unmarshal(b, &p)
	t.Logf("append on a full disk: %d %s", resp.StatusCode, b)
	if resp.StatusCode != http.StatusInsufficientStorage || p.Code != command.CodeDiskFull {
		t.Fatalf("append on a full disk: %d %s; want 507 disk_full", resp.StatusCode, b)
	}
	var head struct{ Version int64 }
	if err := json.Unmarshal(get(base), &head); err != nil || head.Version != 5 {
		t.Fatalf("head on a full disk: %+v %v", head, err)
	}
	var events []any
	if err := json.Unmarshal(get(base+"/events"), &events); err != nil || len(events) != 5 {
		t.Fatalf("events on a full disk: %d %v", len(events), err)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if resp, b := post("e-6"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("append after space was freed: %d %s", resp.StatusCode, b)
	}
	if code := stop(); code != exitOK {
		t.Fatalf("exit code %d", code)
	}
	verifyDevData(t, data, 6)
}

// verifyDevData opens a dev data folder (4 partitions) and checks it with Verify.
func verifyDevData(t *testing.T, data string, events int64) {
	t.Helper()
	eng, err := embedded.Open(embedded.Config{Dir: data, Partitions: 4, DiskReserve: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	rep, err := eng.Verify(t.Context())
	if err != nil || !rep.OK() || rep.Records != events {
		t.Fatalf("Verify: %+v, %v; want %d records", rep, err, events)
	}
}
