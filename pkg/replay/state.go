package replay

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// stateVersion is the version of the state file's layout.
const stateVersion = 1

// State is what a resumable replay keeps in its state file: the topic, the sink it writes
// and, per partition, the next offset to read and the end fixed by the first run. It is
// saved after every flush of the sink, so it never claims output that is not in the sink.
type State struct {
	Version int    `json:"version"`
	Topic   string `json:"topic"`
	// Sink names the output ("jsonl:/abs/path", "sandbox:<keyspace>", ...); a resumed
	// replay must write to the same one.
	Sink string `json:"sink"`
	// OutputBytes is the length of the output file at the last flush: a resumed replay
	// cuts the file back to it (dropping rows written after that flush, which it will
	// write again) and appends.
	OutputBytes int64   `json:"output_bytes"`
	Partitions  []Range `json:"partitions"`
}

// Done reports whether every partition is read to its end.
func (s *State) Done() bool {
	for _, r := range s.Partitions {
		if r.Next < r.End {
			return false
		}
	}
	return true
}

// LoadState reads a state file; a missing file gives (nil, nil).
func LoadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read replay state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%w: %s is not a replay state file: %v", ErrReplayState, path, err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("%w: %s has version %d, want %d", ErrReplayState, path, s.Version, stateVersion)
	}
	return &s, nil
}

// Save replaces the state file atomically: it writes a temporary file in the same folder,
// fsyncs it, renames it over path and fsyncs the folder. A crash leaves the old state or
// the new one, never a mix.
func (s *State) Save(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("save replay state: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // after a successful rename: no such file
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("save replay state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("save replay state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save replay state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save replay state: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
