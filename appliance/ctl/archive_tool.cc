// beaconctl archive: listing, verification, JSON lines and dictionary training over the
// segments of an archive directory (host/archive).
#include "appliance/ctl/archive_tool.h"

#include <time.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <vector>

#include "host/archive/archive_scanner.h"
#include "host/archive/dictionary_files.h"
#include "host/archive/segment_files.h"
#include "kernels/archive/block_codec.h"
#include "kernels/archive/dictionary.h"
#include "kernels/archive/segment_scanner.h"
#include "kernels/enrich/attribution.h"

namespace beacon::app {
namespace {

std::string_view IngressName(kernels::IngressKind ingress) {
  switch (ingress) {
    case kernels::IngressKind::kHttp:
      return "http";
    case kernels::IngressKind::kUdpRelay:
      return "udp_relay";
    case kernels::IngressKind::kMirror:
      return "mirror";
    case kernels::IngressKind::kControl:
      return "control";
  }
  return "unknown";
}

constexpr std::array<std::string_view, 9> kEndpointNames = {
    "ga_collect",   "ga_batch",      "ga4_gtag",      "ga4_mp",    "plausible_event",
    "snowplow_get", "snowplow_post", "udp_hit_batch", "udp_syslog"};

std::string_view EndpointName(kernels::Endpoint endpoint) {
  const auto index = static_cast<size_t>(endpoint);
  return index < kEndpointNames.size() ? kEndpointNames[index] : "unknown";
}

// "2026-12-06T09:40:00.123Z"
std::string FormatTime(int64_t unix_ms) {
  const int64_t ms = ((unix_ms % 1000) + 1000) % 1000;
  const time_t seconds = static_cast<time_t>((unix_ms - ms) / 1000);
  struct tm utc {};
  gmtime_r(&seconds, &utc);
  char text[80];
  std::snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(ms));
  return text;
}

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t extra = 0;
    uint32_t code = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      code = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;
    for (size_t k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(s[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    static constexpr uint32_t kMinimum[] = {0, 0x80, 0x800, 0x10000};
    if (code < kMinimum[extra] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

void AppendBase64(std::string_view bytes, std::string* out) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) |
                       (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) out->push_back(kAlphabet[(v >> shift) & 63]);
  }
  const size_t rest = bytes.size() - i;
  if (rest == 0) return;
  uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
  if (rest == 2) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
  out->push_back(kAlphabet[(v >> 18) & 63]);
  out->push_back(kAlphabet[(v >> 12) & 63]);
  out->push_back(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
  out->push_back('=');
}

void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
          *out += escaped;
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

// ,"name":"…" — or ,"name_base64":"…" for bytes that are not UTF-8.
void AppendBytesField(std::string_view name, std::string_view bytes, std::string* out) {
  const bool text = ValidUtf8(bytes);
  *out += ",\"";
  *out += name;
  *out += text ? "\":" : "_base64\":\"";
  if (text) {
    AppendJsonString(bytes, out);
  } else {
    AppendBase64(bytes, out);
    out->push_back('"');
  }
}

// The archive's dictionaries; a line on `err` for each file that cannot be read (the blocks that
// need its dictionary then show as damage, unknown_dictionary).
std::unique_ptr<kernels::DictionarySet> Dictionaries(host::FileSystem& fs, const std::string& dir,
                                                     std::ostream& err) {
  auto set = std::make_unique<kernels::DictionarySet>();
  std::vector<std::string> refused;
  const int e = host::LoadDictionaries(fs, dir, set.get(), &refused);
  if (e != 0 && refused.empty()) {
    err << "archive " << dir << ": dictionaries not loaded: " << std::strerror(e) << "\n";
  }
  for (const std::string& file : refused) {
    err << "archive " << dir << ": dictionary not loaded: " << file << "\n";
  }
  return set;
}

void PrintDamage(const host::ArchiveScanStats& stats, std::ostream& out) {
  for (const host::SegmentDamage& d : stats.damage) {
    out << d.path << " offset " << d.damage.offset << " bytes " << d.damage.bytes << " "
        << (d.damage.kind == kernels::DamageKind::kTornTail ? "torn" : "corrupt") << " ("
        << kernels::ArchiveErrorName(d.damage.error) << ")\n";
  }
}

bool Damaged(const host::ArchiveScanStats& stats) {
  return stats.torn_blocks + stats.corrupt_blocks + stats.read_errors > 0;
}

struct SegmentSummary {
  uint64_t records = 0;
  uint64_t blocks = 0;
  uint64_t last_sequence = 0;
  std::optional<int64_t> created_ms, first_ms, last_ms;
};

// `first_sequence`: the file name's, for a segment whose header is missing or damaged.
SegmentSummary Summarise(std::string_view bytes, uint64_t first_sequence,
                         const kernels::DictionaryStore& dictionaries) {
  SegmentSummary summary;
  kernels::SegmentScanner scanner(bytes);
  const bool header = scanner.header_error() == kernels::ArchiveError::kOk;
  if (header) summary.created_ms = scanner.header().created_ms;
  summary.last_sequence = (header ? scanner.header().first_sequence : first_sequence) - 1;
  kernels::BlockDecoder decoder(&dictionaries);
  kernels::ScannedBlock block, last;
  while (scanner.Next(&block)) {
    if (summary.blocks++ == 0 &&
        decoder.Decode(block.bytes, scanner.version()) == kernels::ArchiveError::kOk) {
      summary.first_ms = decoder.records().front().receive_time_ms;
    }
    summary.records += block.header.record_count;
    summary.last_sequence = block.header.first_sequence + block.header.record_count - 1;
    last = block;
  }
  if (summary.blocks > 0 &&
      decoder.Decode(last.bytes, scanner.version()) == kernels::ArchiveError::kOk) {
    summary.last_ms = decoder.records().back().receive_time_ms;
  }
  return summary;
}

std::string TimeOrDash(const std::optional<int64_t>& ms) {
  return ms.has_value() ? FormatTime(*ms) : "-";
}

// "DE"; "" unknown; "#<code>" for a code that is not two capital letters.
std::string CountryText(uint16_t code) {
  std::array<char, 2> letters;
  const std::string_view country = kernels::CountryLetters(code, &letters);
  const bool ok =
      std::all_of(country.begin(), country.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
  return ok ? std::string(country) : "#" + std::to_string(code);
}

// Calls `emit` for every record of the workers `filter` selects within its times, worker by
// worker in sequence order; damage goes to `err`. 1 when anything was damaged or unreadable.
int ForEachRecord(
    host::FileSystem& fs, const std::string& dir, const ArchiveFilter& filter, std::ostream& err,
    const std::function<void(uint32_t, uint64_t, const kernels::ArchiveRecord&)>& emit) {
  std::vector<host::SegmentFile> segments;
  if (const int e = host::ListSegments(fs, dir, &segments); e != 0) {
    err << "archive " << dir << ": " << std::strerror(e) << "\n";
    return 1;
  }
  std::set<uint32_t> workers;
  for (const auto& segment : segments) {
    if (!filter.worker.has_value() || *filter.worker == segment.worker) {
      workers.insert(segment.worker);
    }
  }
  const auto dictionaries = Dictionaries(fs, dir, err);
  host::ArchiveScanner scanner(fs, dir, dictionaries.get());
  int status = 0;
  for (const uint32_t worker : workers) {
    if (const int e = scanner.Seek(worker, 0); e != 0) {
      err << "archive " << dir << ": " << std::strerror(e) << "\n";
      return 1;
    }
    uint64_t sequence = 0;
    kernels::ArchiveRecord record;
    while (scanner.Next(&sequence, &record)) {
      if (record.receive_time_ms >= filter.from_ms && record.receive_time_ms < filter.to_ms) {
        emit(worker, sequence, record);
      }
    }
    PrintDamage(scanner.stats(), err);
    if (Damaged(scanner.stats())) status = 1;
  }
  return status;
}

// `status`, or 1 when `out` could not take everything written to it (a full disk, a closed
// pipe): a cut-short listing or export must not exit 0.
int Written(std::ostream& out, std::ostream& err, int status) {
  out.flush();
  if (out) return status;
  err << "archive: cannot write the output\n";
  return 1;
}

template <typename T>
void PutLittleEndian(T value, std::string* out) {
  char bytes[sizeof(T)];
  kernels::StoreLittleEndian(bytes, value);
  out->append(bytes, sizeof(T));
}

// RowBinary String: VarUInt length (LEB128), then the bytes.
void PutString(std::string_view s, std::string* out) {
  uint64_t n = s.size();
  while (n >= 0x80) {
    out->push_back(static_cast<char>((n & 0x7f) | 0x80));
    n >>= 7;
  }
  out->push_back(static_cast<char>(n));
  out->append(s);
}

std::string EnumType(std::span<const std::string_view> names) {
  std::string type = "Enum8(";
  for (size_t i = 0; i < names.size(); ++i) {
    type += (i == 0 ? "'" : ", '") + std::string(names[i]) + "' = " + std::to_string(i);
  }
  return type + ")";
}

}  // namespace

bool ParseArchiveTime(std::string_view text, int64_t* unix_ms) {
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos) {
    if (text.size() > 18) return false;
    *unix_ms = std::stoll(std::string(text));
    return true;
  }
  // YYYY-MM-DD[THH:MM[:SS]][Z], each field its exact digits.
  if (text.ends_with('Z')) text.remove_suffix(1);
  if (text.size() != 10 && text.size() != 16 && text.size() != 19) return false;
  const std::string_view separators = "--T::";
  const std::array<size_t, 5> at = {4, 7, 10, 13, 16};
  for (size_t i = 0; i < at.size() && at[i] < text.size(); ++i) {
    if (text[at[i]] != separators[i]) return false;
  }
  const auto field = [text](size_t from, size_t count) {
    int value = 0;
    for (size_t i = from; i < from + count; ++i) {
      if (i >= text.size()) return 0;  // an hour, minute or second left out
      if (text[i] < '0' || text[i] > '9') return -1;
      value = value * 10 + (text[i] - '0');
    }
    return value;
  };
  const std::array<int, 6> fields = {field(0, 4),  field(5, 2),  field(8, 2),
                                     field(11, 2), field(14, 2), field(17, 2)};
  if (std::find(fields.begin(), fields.end(), -1) != fields.end()) return false;
  struct tm utc {};
  utc.tm_year = fields[0] - 1900;
  utc.tm_mon = fields[1] - 1;
  utc.tm_mday = fields[2];
  utc.tm_hour = fields[3];
  utc.tm_min = fields[4];
  utc.tm_sec = fields[5];
  const time_t seconds = timegm(&utc);
  // timegm moves a date that does not exist (2026-02-30, 24:00) on: refuse what it moved.
  if (utc.tm_year != fields[0] - 1900 || utc.tm_mon != fields[1] - 1 || utc.tm_mday != fields[2] ||
      utc.tm_hour != fields[3] || utc.tm_min != fields[4] || utc.tm_sec != fields[5]) {
    return false;
  }
  *unix_ms = static_cast<int64_t>(seconds) * 1000;
  return true;
}

int ArchiveList(host::FileSystem& fs, const std::string& dir, std::ostream& out,
                std::ostream& err) {
  std::vector<host::SegmentFile> segments;
  if (const int e = host::ListSegments(fs, dir, &segments); e != 0) {
    err << "archive " << dir << ": " << std::strerror(e) << "\n";
    return 1;
  }
  const auto dictionaries = Dictionaries(fs, dir, err);
  struct WorkerTotal {
    uint64_t segments = 0, records = 0, bytes = 0, first = 0, last = 0;
  };
  std::map<uint32_t, WorkerTotal> totals;
  int status = 0;
  out << "worker\tfirst_seq\tlast_seq\trecords\tblocks\tbytes\tcreated\tfirst_time\tlast_"
         "time\tsegment\n";
  for (const host::SegmentFile& segment : segments) {
    std::string bytes;
    if (const int e = fs.ReadFile(segment.path, &bytes); e != 0) {
      err << segment.path << ": " << std::strerror(e) << "\n";
      status = 1;
      continue;
    }
    const SegmentSummary s = Summarise(bytes, segment.first_sequence, *dictionaries);
    out << segment.worker << "\t" << segment.first_sequence << "\t" << s.last_sequence << "\t"
        << s.records << "\t" << s.blocks << "\t" << bytes.size() << "\t" << TimeOrDash(s.created_ms)
        << "\t" << TimeOrDash(s.first_ms) << "\t" << TimeOrDash(s.last_ms) << "\t"
        << segment.path.substr(segment.path.rfind('/') + 1) << "\n";
    WorkerTotal& total = totals[segment.worker];
    if (total.segments++ == 0) total.first = segment.first_sequence;
    total.records += s.records;
    total.bytes += bytes.size();
    total.last = std::max(total.last, s.last_sequence);
  }
  for (const auto& [worker, total] : totals) {
    out << "worker " << worker << ": " << total.segments << " segments, sequences " << total.first
        << ".." << total.last << ", " << total.records << " records, " << total.bytes << " bytes\n";
  }
  return Written(out, err, status);
}

int ArchiveVerify(host::FileSystem& fs, const std::string& dir, std::ostream& out,
                  std::ostream& err) {
  const auto dictionaries = Dictionaries(fs, dir, err);
  host::ArchiveScanStats stats;
  if (const int e = host::VerifyArchive(fs, dir, dictionaries.get(), &stats); e != 0) {
    err << "archive " << dir << ": " << std::strerror(e) << "\n";
    return 1;
  }
  PrintDamage(stats, out);
  out << stats.segments << " segments, " << stats.blocks << " valid blocks, " << stats.records
      << " records; " << stats.torn_blocks << " torn, " << stats.corrupt_blocks << " corrupt, "
      << stats.damaged_bytes << " damaged bytes, " << stats.lost_records << " records lost, "
      << stats.read_errors << " unreadable segments\n";
  return Damaged(stats) ? 1 : 0;
}

void AppendRecordJson(uint32_t worker, uint64_t sequence, const kernels::ArchiveRecord& record,
                      std::string* out) {
  char hash[20];
  std::snprintf(hash, sizeof(hash), "%016llx",
                static_cast<unsigned long long>(record.address_hash));
  *out += "{\"worker\":" + std::to_string(worker) + ",\"sequence\":" + std::to_string(sequence) +
          ",\"time\":\"" + FormatTime(record.receive_time_ms) +
          "\",\"time_ms\":" + std::to_string(record.receive_time_ms) + ",\"ingress\":\"";
  *out += IngressName(record.ingress);
  *out += "\",\"endpoint\":\"";
  *out += EndpointName(record.endpoint);
  *out += "\",\"country\":\"";
  *out += CountryText(record.country);
  *out += "\",\"address_hash\":\"";
  *out += hash;
  out->push_back('"');
  AppendBytesField("user_agent", record.user_agent, out);
  AppendBytesField("query", record.query, out);
  kernels::EpochMarker marker;
  if (kernels::IsControlRecord(record) &&
      kernels::DecodeEpochMarker(record.payload, &marker) == kernels::ArchiveError::kOk) {
    *out += ",\"epoch_close\":{\"epoch\":" + std::to_string(marker.epoch) +
            ",\"first_sequence\":" + std::to_string(marker.first_sequence) +
            ",\"last_sequence\":" + std::to_string(marker.last_sequence) +
            ",\"breakdown_cut\":" + (marker.breakdown_cut ? "true" : "false") + "}}";
    return;
  }
  AppendBytesField("payload", record.payload, out);
  out->push_back('}');
}

int ArchiveCat(host::FileSystem& fs, const std::string& dir, const ArchiveFilter& filter,
               std::ostream& out, std::ostream& err) {
  std::string line;
  const int status =
      ForEachRecord(fs, dir, filter, err,
                    [&](uint32_t worker, uint64_t sequence, const kernels::ArchiveRecord& r) {
                      line.clear();
                      AppendRecordJson(worker, sequence, r, &line);
                      line.push_back('\n');
                      out << line;
                    });
  return Written(out, err, status);
}

std::string RawEventsTableDdl(const std::string& database) {
  static constexpr std::array<std::string_view, 3> kIngressNames = {"http", "udp_relay", "mirror"};
  return "CREATE TABLE IF NOT EXISTS " + database +
         ".raw_events (worker UInt32, sequence UInt64, receive_time DateTime, receive_time_ms "
         "Int64, ingress " +
         EnumType(kIngressNames) + ", endpoint " + EnumType(kEndpointNames) +
         ", country String, address_hash UInt64, user_agent String, query String, payload "
         "String) ENGINE = MergeTree() PARTITION BY toYYYYMMDD(receive_time) ORDER BY (worker, "
         "sequence)";
}

void AppendRecordRowBinary(uint32_t worker, uint64_t sequence, const kernels::ArchiveRecord& record,
                           std::string* out) {
  const int64_t ms = record.receive_time_ms;
  const int64_t seconds = (ms - (((ms % 1000) + 1000) % 1000)) / 1000;
  PutLittleEndian<uint32_t>(worker, out);
  PutLittleEndian<uint64_t>(sequence, out);
  PutLittleEndian<uint32_t>(static_cast<uint32_t>(seconds), out);
  PutLittleEndian<int64_t>(ms, out);
  PutLittleEndian<uint8_t>(static_cast<uint8_t>(record.ingress), out);
  PutLittleEndian<uint8_t>(static_cast<uint8_t>(record.endpoint), out);
  PutString(CountryText(record.country), out);
  PutLittleEndian<uint64_t>(record.address_hash, out);
  PutString(record.user_agent, out);
  PutString(record.query, out);
  PutString(record.payload, out);
}

int ArchiveExportRowBinary(host::FileSystem& fs, const std::string& dir,
                           const ArchiveFilter& filter, std::ostream& out, std::ostream& err) {
  std::string row;
  const int status =
      ForEachRecord(fs, dir, filter, err,
                    [&](uint32_t worker, uint64_t sequence, const kernels::ArchiveRecord& r) {
                      if (kernels::IsControlRecord(r)) return;  // not an event
                      row.clear();
                      AppendRecordRowBinary(worker, sequence, r, &row);
                      out << row;
                    });
  return Written(out, err, status);
}

int ArchiveTrain(host::FileSystem& fs, const std::string& dir, size_t capacity, size_t max_records,
                 std::ostream& out, std::ostream& err) {
  std::vector<host::SegmentFile> segments;
  if (const int e = host::ListSegments(fs, dir, &segments); e != 0) {
    err << "archive " << dir << ": " << std::strerror(e) << "\n";
    return 1;
  }
  // Owned copies: the scanner's views end at its next record.
  struct Sample {
    std::string payload, query, user_agent;
  };
  std::map<kernels::Endpoint, std::vector<Sample>> samples;
  std::set<uint32_t> workers;
  for (const auto& segment : segments) workers.insert(segment.worker);
  const auto dictionaries = Dictionaries(fs, dir, err);
  host::ArchiveScanner scanner(fs, dir, dictionaries.get());
  for (const uint32_t worker : workers) {
    if (scanner.Seek(worker, 0) != 0) continue;
    uint64_t sequence = 0;
    kernels::ArchiveRecord record;
    while (scanner.Next(&sequence, &record)) {
      if (kernels::IsControlRecord(record)) continue;
      auto& kept = samples[record.endpoint];
      if (kept.size() >= max_records) continue;
      kept.push_back(
          {std::string(record.payload), std::string(record.query), std::string(record.user_agent)});
    }
  }
  int status = 0;
  for (const auto& [endpoint, kept] : samples) {
    std::vector<kernels::ArchiveRecord> records(kept.size());
    for (size_t i = 0; i < kept.size(); ++i) {
      records[i].endpoint = endpoint;
      records[i].payload = kept[i].payload;
      records[i].query = kept[i].query;
      records[i].user_agent = kept[i].user_agent;
    }
    out << EndpointName(endpoint) << ": " << records.size() << " records: ";
    std::string trained = kernels::TrainArchiveDictionary(records, capacity);
    auto dictionary = kernels::ArchiveDictionary::Load(std::move(trained));
    if (dictionary == nullptr) {
      out << "too few or too uniform to train a dictionary\n";
      continue;
    }
    const int e = host::SaveDictionary(fs, dir, *dictionary);
    if (e == EEXIST) {
      out << "dictionary " << dictionary->id() << " is already stored\n";
    } else if (e != 0) {
      out << "dictionary " << dictionary->id() << " not saved: " << std::strerror(e) << "\n";
      status = 1;
    } else {
      out << "dictionary " << dictionary->id() << " (" << dictionary->bytes().size()
          << " bytes) saved as " << host::DictionaryFileName(dictionary->id()) << "\n";
    }
  }
  if (samples.empty()) out << "no records in " << dir << "\n";
  return status;
}

}  // namespace beacon::app
