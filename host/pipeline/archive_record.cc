// ArchiveRecordOf and back: a beacon as the raw archive keeps it; see archive_record.h.
#include "host/pipeline/archive_record.h"

#include <array>
#include <string_view>

#include "kernels/formats/relay.h"

namespace beacon::host {
namespace {

// Relay line fields: version, time, client IP, ...; fields are TAB-separated.
constexpr size_t kClientField = 2;

// `datagram` as archived, into `out`, and the address hash of its relay line (see
// ArchiveRecordOf). The line is parsed as the live decoder parses it (the byte kernels give
// the same on every backend).
void ArchiveSyslog(std::string_view datagram, int64_t receive_time_ms,
                   const kernels::VisitorSalts& salts, std::string* out, uint64_t* address_hash) {
  out->clear();
  std::string_view message;
  if (datagram.size() > kernels::kRelayMaxDatagramBytes ||
      !kernels::SyslogMessage(datagram, &message)) {
    return;  // bad_syslog_frame either way
  }
  const size_t start = static_cast<size_t>(message.data() - datagram.data());
  thread_local std::array<char, kernels::kRelayMaxDatagramBytes + kernels::kPayloadPadding>
      unescaped;
  kernels::RelayLine line;
  if (kernels::ParseRelayLine(message, unescaped.data(), &line)) {
    // bad_log_format either way; an empty message has nothing to hide and stays as it is.
    out->assign(datagram.substr(0, start));
    out->append(message.empty() ? "" : "-");
    return;
  }
  size_t field = start;
  for (size_t f = 0; f < kClientField; ++f) field = datagram.find('\t', field) + 1;
  const size_t end = datagram.find('\t', field);  // a parsed line has all its fields
  out->assign(datagram.substr(0, field));
  out->append(datagram.substr(end));
  kernels::AddressHash(salts, kernels::RelaySaltTimeMs(line.time_ms, receive_time_ms), line.client,
                       address_hash);
}

}  // namespace

kernels::ArchiveRecord ArchiveRecordOf(const kernels::RawBatch& batch, size_t i,
                                       const kernels::VisitorSalts& salts, std::string* scratch) {
  kernels::ArchiveRecord record;
  record.receive_time_ms = batch.receive_time_ms(i);
  record.ingress = batch.ingress(i);
  record.endpoint = batch.endpoint(i);
  record.country = batch.country(i);
  record.query = batch.query(i);
  record.user_agent = batch.user_agent(i);
  if (record.endpoint != kernels::Endpoint::kUdpSyslog) {
    record.payload = batch.payload(i);
    kernels::AddressHash(salts, record.receive_time_ms, batch.source(i), &record.address_hash);
    return record;
  }
  ArchiveSyslog(batch.payload(i), record.receive_time_ms, salts, scratch, &record.address_hash);
  record.payload = *scratch;
  return record;
}

bool IsBeaconRecord(const kernels::ArchiveRecord& record) {
  switch (record.ingress) {
    case kernels::IngressKind::kHttp:
    case kernels::IngressKind::kUdpRelay:
    case kernels::IngressKind::kMirror:
      break;
    default:
      return false;
  }
  switch (record.endpoint) {
    case kernels::Endpoint::kGaCollect:
    case kernels::Endpoint::kGaBatch:
    case kernels::Endpoint::kGa4Gtag:
    case kernels::Endpoint::kGa4Mp:
    case kernels::Endpoint::kPlausibleEvent:
    case kernels::Endpoint::kSnowplowGet:
    case kernels::Endpoint::kSnowplowPost:
    case kernels::Endpoint::kUdpHitBatch:
    case kernels::Endpoint::kUdpSyslog:
      return true;
    default:
      return false;
  }
}

bool AddArchivedRecord(const kernels::ArchiveRecord& record, kernels::RawBatch* batch) {
  return batch->AddArchived(record.endpoint, record.ingress, record.payload, record.user_agent,
                            record.address_hash, record.receive_time_ms, record.query,
                            record.country);
}

}  // namespace beacon::host
