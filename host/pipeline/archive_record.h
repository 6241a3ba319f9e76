// The raw archive's record of one beacon of a RawBatch: its fields as received, with the
// address reduced to the salted address hash. No IP address reaches a record: a relay syslog
// line's client IP field is emptied in the stored copy.
#pragma once

#include <cstddef>
#include <string>

#include "kernels/archive/format.h"
#include "kernels/raw_batch.h"
#include "kernels/visitor.h"

namespace beacon::host {

// Record of beacon `i` of `batch`; its views point into `batch` or `scratch` (which must live
// while the record is used). The address hash is 0 when no salt covers the beacon's day. A
// syslog datagram whose relay line has no client IP field is stored with an empty payload (its
// decoder refuses it either way).
kernels::ArchiveRecord ArchiveRecordOf(const kernels::RawBatch& batch, size_t i,
                                       const kernels::VisitorSalts& salts, std::string* scratch);

// Adds archived beacon `record` to `batch` for decoding (replay); false when `batch` is full.
// The source address is not archived: the batch's is unspecified (all zero).
bool AddArchivedRecord(const kernels::ArchiveRecord& record, kernels::RawBatch* batch);

}  // namespace beacon::host
