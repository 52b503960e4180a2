// Package wal is the one on-disk framing of the gateway's durable logs: a
// segment header (magic and format version), CRC-framed records with a
// sequence number, a scanner that resyncs past damaged records, and a
// durable high-water mark rewritten in place.
//
// # What it owns
//
//   - Framing (frame.go): a segment file is a 16-byte header followed by
//     records
//
//     header: magic "HZGWLOG\x00" | version uint32 LE | CRC-32C of the first 12 bytes
//     record: len uint32 LE | crc uint32 LE (CRC-32C of seq and payload) | seq uint64 LE | payload
//
//     A file without the header is read as version 0 (the records alone,
//     as the alarm journal wrote them before this package).
//
//   - Scan: checks every record of a segment. A record whose header or
//     CRC does not check is damage when a valid record follows it (the
//     scanner resyncs byte by byte to the next record whose CRC checks and
//     whose seq is after the last good one: the damage loses only the
//     records in between), and a torn tail when nothing valid follows
//     (the caller cuts the file there).
//
//   - Mark (mark.go): a uint64 kept durably in a small file of fixed size,
//     overwritten in place with fsync (two generations, each with a CRC),
//     so it can still be written when the disk is full. The alarm journal
//     keeps its seq high-water mark in one.
//
// Its users: the alarm journal (alarms), the outbox (store), the operator
// records (console), the uplink/notify cursors. It imports none of them.
// Subpackage waltest helps their fuzz targets (a tmpfs directory).
//
// # Concurrency
//
// The functions are pure (Scan, AppendRecord, AppendHeader). A Mark is
// used from one goroutine at a time.
//
// # Shutdown
//
// Close a Mark after its last Store.
package wal
