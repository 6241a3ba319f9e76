// The ClickHouse schema of beacond's aggregates and the RowBinary encoding of the rows the
// forwarder inserts; kept together because RowBinary must match the column types exactly.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kernels/aggregate/minute_aggregator.h"

namespace beacon::host {

// Where the forwarder inserts: site_minutes_in (a Null table whose materialized view turns
// visitor-hash arrays into uniqHLL12 states in site_minutes) and page_minutes.
inline constexpr std::string_view kSiteMinutesInTable = "site_minutes_in";
inline constexpr std::string_view kPageMinutesTable = "page_minutes";

// Idempotent DDL (IF NOT EXISTS), in order, with database-qualified names, creating
// `database` first. Fails fast on a database name that is not [A-Za-z_][A-Za-z0-9_]*.
std::vector<std::string> SchemaStatements(std::string_view database = "beacon");

// Appends one row of site_minutes_in: site_id UInt32, minute DateTime (seconds), pageviews
// UInt64, events UInt64, visitor_hashes Array(UInt64) — little-endian, varint counts.
void AppendSiteMinuteRowBinary(const kernels::SiteMinuteRow& row, std::string* out);
// Appends one row of page_minutes: site_id UInt32, minute DateTime, path String, pageviews
// UInt64.
void AppendPageMinuteRowBinary(const kernels::PageMinuteRow& row, std::string* out);

}  // namespace beacon::host
