// `beaconctl archive ls | verify | cat | export | train`: the raw archive of a node read back
// through host/archive's API. Every function writes its report to `out`, problems to `err`,
// and returns the exit status (0: fine, 1: damage or an error).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "host/archive/file_system.h"
#include "kernels/archive/format.h"

namespace beacon::app {

// Which records `cat` and `export` print: one worker's or all, receive time in [from, to).
struct ArchiveFilter {
  std::optional<uint32_t> worker;
  int64_t from_ms = std::numeric_limits<int64_t>::min();
  int64_t to_ms = std::numeric_limits<int64_t>::max();
};

// A time bound: unix milliseconds, or UTC "YYYY-MM-DD", "YYYY-MM-DDTHH:MM", "…:SS", each with
// an optional trailing "Z". False when `text` is neither.
bool ParseArchiveTime(std::string_view text, int64_t* unix_ms);

// One line per segment: worker, first and last sequence, records, blocks, bytes, created,
// first and last receive time, file name; then one total line per worker.
int ArchiveList(host::FileSystem& fs, const std::string& dir, std::ostream& out, std::ostream& err);

// Checks every block's CRC, frame and records; one line per damaged region (segment, offset,
// bytes, torn or corrupt, why), then the totals. 1 when anything is damaged or unreadable.
int ArchiveVerify(host::FileSystem& fs, const std::string& dir, std::ostream& out,
                  std::ostream& err);

// Appends one record as a JSON object (no newline): worker, sequence, time (UTC, ms), time_ms,
// ingress, endpoint, country ("" unknown, "#<code>" not two letters), address_hash (16 hex digits),
// user_agent, query, payload. A string that is not valid UTF-8 is written base64-encoded under its
// name with
// "_base64" appended.
void AppendRecordJson(uint32_t worker, uint64_t sequence, const kernels::ArchiveRecord& record,
                      std::string* out);

// The records that pass `filter`, worker by worker in sequence order, one JSON line each;
// damage met on the way goes to `err` (and makes the result 1). `cat` writes them to stdout,
// `export` to a file.
int ArchiveCat(host::FileSystem& fs, const std::string& dir, const ArchiveFilter& filter,
               std::ostream& out, std::ostream& err);

// The raw-events table `export --format rowbinary` writes for (idempotent DDL for 18.16):
// worker UInt32, sequence UInt64, receive_time DateTime, receive_time_ms Int64, ingress and
// endpoint Enum8 (the names of the JSON lines), country String, address_hash UInt64,
// user_agent, query, payload String; MergeTree by day, ordered by (worker, sequence).
std::string RawEventsTableDdl(const std::string& database);
// Appends one row of that table in RowBinary.
void AppendRecordRowBinary(uint32_t worker, uint64_t sequence, const kernels::ArchiveRecord& record,
                           std::string* out);
// Like ArchiveCat, one RowBinary row per record (`INSERT INTO … FORMAT RowBinary`).
int ArchiveExportRowBinary(host::FileSystem& fs, const std::string& dir,
                           const ArchiveFilter& filter, std::ostream& out, std::ostream& err);

// Trains a zstd dictionary of at most `capacity` bytes per endpoint (format) from up to
// `max_records` of the archive's own records of that endpoint, and stores each in `dir`
// (SaveDictionary). One line per endpoint: its id, or why none was trained or saved.
int ArchiveTrain(host::FileSystem& fs, const std::string& dir, size_t capacity, size_t max_records,
                 std::ostream& out, std::ostream& err);

}  // namespace beacon::app
