package center

import (
	"encoding/json"
	"testing"
)

// BenchmarkJournalAppend: one event record, one fsync (the cost of each
// site message at the center).
func BenchmarkJournalAppend(b *testing.B) {
	j, _, err := openJournal(b.TempDir(), journalOptions{}, func(uint64, record) {})
	if err != nil {
		b.Fatal(err)
	}
	defer j.close()
	raw := json.RawMessage(`{"seq":1042,"id":"NH3-101:hihi","point":"NH3-101","cond":"hihi","tier":2,"priority":"high","state":"unack","active":true,"acked":false,"latched":false,"shelved_until":null,"stage":0,"value":61.5,"limit":60.0,"unit":"ppm","quality":"good","time":"2026-11-28T08:00:01.250Z","emitted":"2026-11-28T08:00:01.251Z","activated":"2026-11-28T08:00:01.250Z","by":"","comment":"","site":"SQ-COLD-01","device":"GC-ROOM1","name":"Compressor room NH3"}`)
	for i := 0; b.Loop(); i++ {
		if _, err := j.append(record{Kind: kindEvent, Site: "SQ-COLD-01", Prefix: "hazard/SQ-COLD-01", Seq: uint64(i + 1), Raw: raw}); err != nil {
			b.Fatal(err)
		}
	}
}
