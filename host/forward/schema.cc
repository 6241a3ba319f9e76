// DDL for beacond's tables in ClickHouse 18.16 and the RowBinary encoding of their rows.
#include "host/forward/schema.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>

#include "kernels/unix_time.h"

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
uint32_t MinuteToDateTime(uint32_t minute) {
  return static_cast<uint32_t>(kernels::MinuteStartSecond(minute));
}

}  // namespace

std::vector<std::string> SchemaStatements(std::string_view database) {
  SchemaOptions options;
  options.database = std::string(database);
  return SchemaStatements(options);
}

namespace {

void CheckNames(const SchemaOptions& options) {
  if (!IsIdentifier(options.database)) {
    throw std::invalid_argument("ClickHouse database name \"" + options.database +
                                "\" is not an identifier ([A-Za-z_][A-Za-z0-9_]*)");
  }
  if (!options.cluster.empty() && !IsIdentifier(options.cluster)) {
    throw std::invalid_argument("ClickHouse cluster name \"" + options.cluster +
                                "\" is not an identifier ([A-Za-z_][A-Za-z0-9_]*)");
  }
}

// The inserted tables, (site_minutes, breakdown_minutes) as named on this shape.
std::array<std::string, 2> DataTables(const SchemaOptions& options) {
  const std::string suffix = options.cluster.empty() ? "" : "_local";
  return {"site_minutes" + suffix, "breakdown_minutes" + suffix};
}

// CREATE TABLE `name` as the current definition of the data table `table`, replicated under
// ZooKeeper path `zk_table`.
//
// Replicated tables drop a block whose checksum is among the table's last
// replicated_deduplication_window blocks (ids kept in ZooKeeper, shared by the replicas), so a
// batch resent byte-identically (a retry, any replica) lands once; on one server too, as a
// single replica. batch_id keeps two different batches with equal rows from being taken for
// one; it is not summed (the explicit column list) and means nothing after merges. On merge the
// table sums the UInt64 columns named in the engine and merges the uniqHLL12 states (verified
// on 18.16), so rows of one key from any number of inserts collapse into one; a column not
// named there is not summed, which is why the weighted columns need the table rebuilt
// (MigrateWeightedStatements). The window is 10000 blocks: a batch goes per (worker, shard)
// and epoch, so a busy shard takes about one block per worker and second of every appliance,
// and a batch rebuilt by replay after a crash must still be in the window. The server needs
// <zookeeper> and the macros {shard} and {replica}.
std::string CreateDataTable(const SchemaOptions& options, const std::string& table,
                            const std::string& name, const std::string& zk_table) {
  const bool site = table.starts_with("site_minutes");
  const std::string columns =
      site ? "site_id UInt32, minute DateTime, pageviews UInt64, events UInt64, "
             "visitors AggregateFunction(uniqHLL12, UInt64)"
           : "site_id UInt32, minute DateTime, dimension " + DimensionEnumType() +
                 ", value String, pageviews UInt64, events UInt64, "
                 "visitors AggregateFunction(uniqHLL12, UInt64)";
  // Breakdowns: one row per (site, dimension, minute, value). The key starts with
  // (site_id, dimension) because every analyst query fixes both.
  const std::string order = site ? "(site_id, minute)" : "(site_id, dimension, minute, value)";
  return "CREATE TABLE IF NOT EXISTS " + options.database + "." + name + " (" + columns +
         ", batch_id UInt64, weighted_pageviews UInt64, weighted_events UInt64) ENGINE = "
         "ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/" +
         options.database + "/" + zk_table +
         "', '{replica}', (pageviews, events, visitors, weighted_pageviews, weighted_events)) "
         "PARTITION BY toYYYYMMDD(minute) ORDER BY " +
         order + " SETTINGS replicated_deduplication_window = 10000";
}

// The Distributed table the analysts query over the shard-local `local` table.
std::string CreateDistributed(const SchemaOptions& options, const std::string& local) {
  const std::string& db = options.database;
  const std::string name = local.substr(0, local.size() - std::string_view("_local").size());
  // No sharding key: inserts through it would bypass beacond's shard ring, so ClickHouse
  // refuses them on a cluster of more than one shard.
  return "CREATE TABLE IF NOT EXISTS " + db + "." + name + " AS " + db + "." + local +
         " ENGINE = " + DistributedEngine(options, local);
}

}  // namespace

std::string DistributedEngine(const SchemaOptions& options, std::string_view local) {
  return "Distributed(" + options.cluster + ", " + options.database + ", " + std::string(local) +
         ")";
}

std::vector<std::string> SchemaStatements(const SchemaOptions& options) {
  CheckNames(options);
  const std::string& db = options.database;
  // beacond inserts its own uniqHLL12 states straight into the tables; earlier releases
  // inserted hash arrays into Null *_in tables whose materialized views built the states.
  // Dropping them (views first) makes an older beacond's inserts fail rather than land
  // twice: upgrade every beacond before running this schema.
  std::vector<std::string> statements = {"CREATE DATABASE IF NOT EXISTS " + db};
  for (const char* obsolete :
       {"site_minutes_mv", "breakdown_minutes_mv", "site_minutes_in", "breakdown_minutes_in"}) {
    statements.push_back("DROP TABLE IF EXISTS " + db + "." + obsolete);
  }
  for (const std::string& table : DataTables(options)) {
    statements.push_back(
        CreateDataTable(options, table, table, table + std::string(kWeightedZkSuffix)));
  }
  if (options.cluster.empty()) return statements;
  for (const std::string& table : DataTables(options)) {
    statements.push_back(CreateDistributed(options, table));
  }
  return statements;
}

std::vector<std::string> UnweightedTables(const SchemaOptions& options,
                                          const std::vector<std::string>& existing) {
  std::vector<std::string> tables;
  for (const std::string& table : DataTables(options)) {
    if (std::find(existing.begin(), existing.end(), table) != existing.end()) {
      tables.push_back(table);
    }
  }
  return tables;
}

std::vector<std::string> MigrateWeightedStatements(const SchemaOptions& options,
                                                   const std::string& table, bool copy_rows) {
  CheckNames(options);
  const std::string& db = options.database;
  const std::string rebuilt = table + std::string(kWeightedZkSuffix);
  const bool site = table.starts_with("site_minutes");
  const std::string key_columns = site ? "site_id, minute" : "site_id, minute, dimension, value";
  std::vector<std::string> statements;
  // The copy goes into a new table: one left by an interrupted run holds some or all rows of an
  // earlier copy, which block deduplication does not drop once a merge of the old table has
  // changed its blocks. Dropping it, its only replica (ApplySchema checks), removes its
  // ZooKeeper path with the blocks' deduplication ids (18.16), so the copy lands whole.
  if (copy_rows) statements.push_back("DROP TABLE IF EXISTS " + db + "." + rebuilt);
  statements.push_back(CreateDataTable(options, table, rebuilt, rebuilt));
  // Nothing was sampled before the weights existed: each row stands for its own counts.
  if (copy_rows) {
    statements.push_back("INSERT INTO " + db + "." + rebuilt + " SELECT " + key_columns +
                         ", pageviews, events, visitors, batch_id, pageviews, events FROM " + db +
                         "." + table);
  }
  statements.push_back("RENAME TABLE " + db + "." + table + " TO " + db + "." + table +
                       "_unweighted, " + db + "." + rebuilt + " TO " + db + "." + table);
  if (!options.cluster.empty()) {
    // The Distributed table copied the old columns when it was made.
    const std::string name = table.substr(0, table.size() - std::string_view("_local").size());
    statements.push_back("DROP TABLE IF EXISTS " + db + "." + name);
    statements.push_back(CreateDistributed(options, table));
  }
  return statements;
}

std::string DimensionEnumType() {
  std::string type = "Enum8(";
  for (const kernels::Dimension d : kernels::kDimensions) {
    if (d != kernels::kDimensions.front()) type += ", ";
    type +=
        "'" + std::string(kernels::DimensionName(d)) + "' = " + std::to_string(static_cast<int>(d));
  }
  return type + ")";
}

void AppendSiteMinuteRowBinary(const kernels::SiteMinuteRow& row, std::string* out) {
  PutLittleEndian<uint32_t>(row.site_id, out);
  PutLittleEndian<uint32_t>(MinuteToDateTime(row.minute), out);
  PutLittleEndian<uint64_t>(row.pageviews, out);
  PutLittleEndian<uint64_t>(row.events, out);
  row.visitors.Serialize(out);
}

void AppendBreakdownRowBinary(const kernels::BreakdownRow& row, std::string* out) {
  PutLittleEndian<uint32_t>(row.site_id, out);
  PutLittleEndian<uint32_t>(MinuteToDateTime(row.minute), out);
  PutLittleEndian<uint8_t>(static_cast<uint8_t>(row.dimension), out);  // Enum8 is an Int8
  PutVarUInt(row.value.size(), out);
  out->append(row.value);
  PutLittleEndian<uint64_t>(row.pageviews, out);
  PutLittleEndian<uint64_t>(row.events, out);
  row.visitors.Serialize(out);
}

void AppendRowTailBinary(uint64_t batch_id, uint64_t weighted_pageviews, uint64_t weighted_events,
                         std::string* out) {
  PutLittleEndian<uint64_t>(batch_id, out);
  PutLittleEndian<uint64_t>(weighted_pageviews, out);
  PutLittleEndian<uint64_t>(weighted_events, out);
}

}  // namespace beacon::host
