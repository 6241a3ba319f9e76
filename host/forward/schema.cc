// DDL for beacond's tables in ClickHouse 18.16 and the RowBinary encoding of their rows.
#include "host/forward/schema.h"

#include <cstdint>
#include <stdexcept>

namespace beacon::host {
namespace {

bool IsIdentifier(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

template <typename T>
void PutLittleEndian(T value, std::string* out) {
  for (size_t i = 0; i < sizeof(T); ++i) {
    out->push_back(static_cast<char>((static_cast<uint64_t>(value) >> (8 * i)) & 0xff));
  }
}

// ClickHouse's VarUInt: LEB128, 7 bits per byte, low groups first.
void PutVarUInt(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

// DateTime is UInt32 seconds; unix minutes below 2^32 / 60 (year 2106) fit.
uint32_t MinuteToDateTime(uint32_t minute) { return minute * 60u; }

}  // namespace

std::vector<std::string> SchemaStatements(std::string_view database) {
  if (!IsIdentifier(database)) {
    throw std::invalid_argument("ClickHouse database name \"" + std::string(database) +
                                "\" is not an identifier ([A-Za-z_][A-Za-z0-9_]*)");
  }
  std::string db(database);
  // site_minutes is a SummingMergeTree: on merge it sums the UInt64 columns and merges the
  // uniqHLL12 states (verified on 18.16), so rows of one (site_id, minute) from any number
  // of inserts collapse into one.
  return {
      "CREATE DATABASE IF NOT EXISTS " + db,
      "CREATE TABLE IF NOT EXISTS " + db +
          ".site_minutes (site_id UInt32, minute DateTime, pageviews UInt64, events UInt64, "
          "visitors AggregateFunction(uniqHLL12, UInt64)) ENGINE = SummingMergeTree() "
          "PARTITION BY toYYYYMMDD(minute) ORDER BY (site_id, minute)",
      "CREATE TABLE IF NOT EXISTS " + db +
          ".site_minutes_in (site_id UInt32, minute DateTime, pageviews UInt64, events UInt64, "
          "visitor_hashes Array(UInt64)) ENGINE = Null",
      "CREATE MATERIALIZED VIEW IF NOT EXISTS " + db + ".site_minutes_mv TO " + db +
          ".site_minutes AS SELECT site_id, minute, pageviews, events, "
          "arrayReduce('uniqHLL12State', visitor_hashes) AS visitors FROM " +
          db + ".site_minutes_in",
      "CREATE TABLE IF NOT EXISTS " + db +
          ".page_minutes (site_id UInt32, minute DateTime, path String, pageviews UInt64) "
          "ENGINE = SummingMergeTree() PARTITION BY toYYYYMMDD(minute) "
          "ORDER BY (site_id, minute, path)",
  };
}

void AppendSiteMinuteRowBinary(const kernels::SiteMinuteRow& row, std::string* out) {
  PutLittleEndian<uint32_t>(row.site_id, out);
  PutLittleEndian<uint32_t>(MinuteToDateTime(row.minute), out);
  PutLittleEndian<uint64_t>(row.pageviews, out);
  PutLittleEndian<uint64_t>(row.events, out);
  PutVarUInt(row.visitors.size(), out);
  for (uint64_t visitor : row.visitors) PutLittleEndian<uint64_t>(visitor, out);
}

void AppendPageMinuteRowBinary(const kernels::PageMinuteRow& row, std::string* out) {
  PutLittleEndian<uint32_t>(row.site_id, out);
  PutLittleEndian<uint32_t>(MinuteToDateTime(row.minute), out);
  PutVarUInt(row.path.size(), out);
  out->append(row.path);
  PutLittleEndian<uint64_t>(row.pageviews, out);
}

}  // namespace beacon::host
