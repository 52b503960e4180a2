package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// store.journal_keep takes days (SPEC §3 "400d"); both journal keys have
// their defaults and are validated.
func TestJournalKeys(t *testing.T) {
	demo, err := os.ReadFile("demo.toml")
	if err != nil {
		t.Fatal(err)
	}
	load := func(extra string) (*Config, error) {
		text := string(demo)
		if extra != "" {
			text = strings.Replace(text, "[store]\n", "[store]\n"+extra+"\n", 1)
		}
		p := filepath.Join(t.TempDir(), "gw.toml")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return Load(p)
	}
	c, err := load("")
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(c.Store.JournalKeep) != 400*24*time.Hour || c.Store.JournalMaxBytes != 512<<20 {
		t.Fatalf("defaults: keep %v max %d", time.Duration(c.Store.JournalKeep), c.Store.JournalMaxBytes)
	}
	c, err = load(`journal_keep = "30d12h"` + "\n" + `journal_max_bytes = "2GiB"`)
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(c.Store.JournalKeep) != 30*24*time.Hour+12*time.Hour || c.Store.JournalMaxBytes != 2<<30 {
		t.Fatalf("set: keep %v max %d", time.Duration(c.Store.JournalKeep), c.Store.JournalMaxBytes)
	}
	for _, bad := range []string{`journal_keep = "-1d"`, `journal_keep = "d"`, `journal_max_bytes = "100KiB"`} {
		if _, err := load(bad); err == nil || !strings.Contains(err.Error(), "store.journal_") {
			t.Errorf("%s: %v, want an error naming the key", bad, err)
		}
	}
}
