// ArchiveRecordOf: a beacon as the raw archive keeps it; see archive_record.h.
#include "host/pipeline/archive_record.h"

#include <array>
#include <string_view>

#include "kernels/formats/relay.h"

namespace beacon::host {
namespace {

// Relay line fields: version, time, client IP, ...; fields are TAB-separated.
constexpr size_t kClientField = 2;

// `datagram` with its relay line's client IP field emptied, into `out`; false when the line
// has no such field. The address hash comes from the parsed line (its IP, user agent, time).
bool ArchiveSyslog(std::string_view datagram, const kernels::VisitorSalts& salts, std::string* out,
                   uint64_t* address_hash) {
  std::string_view message;
  if (!kernels::SyslogMessage(datagram, &message)) return false;
  size_t start = static_cast<size_t>(message.data() - datagram.data());
  for (size_t field = 0; field < kClientField; ++field) {
    const size_t tab = datagram.find('\t', start);
    if (tab == std::string_view::npos) return false;
    start = tab + 1;
  }
  const size_t end = datagram.find('\t', start);
  if (end == std::string_view::npos) return false;
  out->assign(datagram.substr(0, start));
  out->append(datagram.substr(end));
  thread_local std::array<char, kernels::kRelayMaxDatagramBytes + kernels::kPayloadPadding>
      unescaped;
  kernels::RelayLine line;
  if (message.size() <= kernels::kRelayMaxDatagramBytes &&
      !kernels::ParseRelayLine(message, unescaped.data(), &line)) {
    kernels::AddressHash(salts, line.time_ms, line.client, line.user_agent, address_hash);
  }
  return true;
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
    kernels::AddressHash(salts, record.receive_time_ms, batch.source(i), record.user_agent,
                         &record.address_hash);
    return record;
  }
  scratch->clear();
  ArchiveSyslog(batch.payload(i), salts, scratch, &record.address_hash);
  record.payload = *scratch;
  return record;
}

bool AddArchivedRecord(const kernels::ArchiveRecord& record, kernels::RawBatch* batch) {
  return batch->Add(record.endpoint, record.ingress, record.payload, record.user_agent,
                    kernels::IpAddress{}, record.receive_time_ms, record.query, record.country);
}

}  // namespace beacon::host
