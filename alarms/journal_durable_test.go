package alarms

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// recordSyncDir replaces syncDir for one test and returns the directories
// it was called with, in order.
func recordSyncDir(t *testing.T) *[]string {
	t.Helper()
	var calls []string
	real := syncDir
	syncDir = func(dir string) error {
		calls = append(calls, filepath.Clean(dir))
		return real(dir)
	}
	t.Cleanup(func() { syncDir = real })
	return &calls
}

func segNames(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	if err != nil {
		t.Fatal(err)
	}
	for i := range names {
		names[i] = filepath.Base(names[i])
	}
	return names
}

// A journal directory created by OpenJournal (and its missing parents)
// must have its directory entry fsynced in the parent, or a power cut can
// take the whole journal with it.
func TestJournalNewDirDurable(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "var", "journal")
	calls := recordSyncDir(t)
	j, err := OpenJournal(dir, JournalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for _, want := range []string{root, filepath.Join(root, "var"), dir} {
		if !slices.Contains(*calls, want) {
			t.Errorf("directory %s never fsynced (calls %v)", want, *calls)
		}
	}
}

// An empty segment renamed by Append (it was named for another seq) must
// have the rename fsynced; and if the rename still did not reach the disk,
// reopening keeps the records (the checked first record names the segment)
// instead of cutting them as a torn tail.
func TestJournalLostRename(t *testing.T) {
	dir := t.TempDir()
	calls := recordSyncDir(t)
	j, err := OpenJournal(dir, JournalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := segNames(t, dir); !slices.Equal(got, []string{segmentName(1)}) {
		t.Fatalf("fresh journal segments %v", got)
	}
	before := len(*calls)
	appendSeqs(t, j, 11, 13, 3)
	if !slices.Contains((*calls)[before:], filepath.Clean(dir)) {
		t.Fatalf("rename of the empty segment not fsynced (calls after open: %v)", (*calls)[before:])
	}
	if got := segNames(t, dir); !slices.Equal(got, []string{segmentName(11)}) {
		t.Fatalf("segments after append %v, want the renamed one", got)
	}
	// kill -9, and the directory entry of the rename was lost.
	if err := os.Rename(filepath.Join(dir, segmentName(11)), filepath.Join(dir, segmentName(1))); err != nil {
		t.Fatal(err)
	}
	j2, err := OpenJournal(dir, JournalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if j2.Last() != 13 || j2.First() != 11 {
		t.Fatalf("after a lost rename: first %d last %d, want 11 and 13", j2.First(), j2.Last())
	}
	evs, err := j2.Events(0, 10)
	if err != nil || len(evs) != 3 || evs[0].Seq != 11 {
		t.Fatalf("events after a lost rename: %d, %v", len(evs), err)
	}
	if got := segNames(t, dir); !slices.Equal(got, []string{segmentName(11)}) {
		t.Fatalf("segments after reopen %v, want the segment named for its records", got)
	}
	appendSeqs(t, j2, 14, 15, 2)
	if j2.Last() != 15 {
		t.Fatalf("append after recovery: last %d", j2.Last())
	}
	_ = j.Close()
}

// Retention removes a segment that was renamed after it was opened (its
// file, not the name it was opened under).
func TestJournalRetentionRenamed(t *testing.T) {
	dir := t.TempDir()
	opts := JournalOptions{SegmentBytes: 2 << 10, MaxBytes: 6 << 10, NoSync: true}
	j, err := OpenJournal(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	appendSeqs(t, j, 5, 200, 4) // the first segment is renamed 1 -> 5
	if err := j.WriteSnapshot(200, nil); err != nil {
		t.Fatal(err)
	}
	appendSeqs(t, j, 201, 202, 2)
	if j.First() == 5 {
		t.Fatal("retention dropped nothing: the test proves nothing")
	}
	names := segNames(t, dir)
	if slices.Contains(names, segmentName(5)) {
		t.Fatalf("renamed segment %s left on disk after retention dropped it: %v", segmentName(5), names)
	}
	j.mu.RLock()
	held := len(j.segs)
	j.mu.RUnlock()
	if len(names) != held {
		t.Fatalf("%d segment files on disk, journal holds %d: %v", len(names), held, names)
	}
}
