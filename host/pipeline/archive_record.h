// The raw archive's record of one beacon of a RawBatch, and back: its fields as received, with
// the address reduced to the salted address hash. No IP address reaches a record: a relay
// syslog line's client IP field is emptied in the stored copy.
#pragma once

#include <cstddef>
#include <string>

#include "kernels/archive/format.h"
#include "kernels/raw_batch.h"
#include "kernels/visitor.h"

namespace beacon::host {

// Record of beacon `i` of `batch`; its views point into `batch` or `scratch` (which must live
// while the record is used). The address hash is 0 when no salt covers the beacon's day (a
// relay line's: of the line's time and client IP). A syslog datagram is stored so that its
// decoder gives the same rows and rejects from the record as live: a relay line's client IP
// field emptied; a line the decoder refuses reduced to "-", a datagram without a syslog frame
// (or over the datagram limit) to nothing.
kernels::ArchiveRecord ArchiveRecordOf(const kernels::RawBatch& batch, size_t i,
                                       const kernels::VisitorSalts& salts, std::string* scratch);

// Whether the decoders know `record`'s endpoint and ingress: records of another kind (control
// records of the archive) are skipped by replay.
bool IsBeaconRecord(const kernels::ArchiveRecord& record);

// Adds a beacon record to `batch` (RawBatch::AddArchived): decoding it gives what the live
// decode of the beacon gave. False when the batch is full (nothing added).
bool AddArchivedRecord(const kernels::ArchiveRecord& record, kernels::RawBatch* batch);

}  // namespace beacon::host
