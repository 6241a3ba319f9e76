// The ClickHouse schema of beacond's aggregates and the RowBinary encoding of the rows the
// forwarder inserts; kept together because RowBinary must match the column types exactly.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/aggregate/minute_aggregator.h"

namespace beacon::host {

// Where the forwarder inserts on one server: the tables analysts query, rows carrying their
// uniqHLL12 states. On a cluster: the shard-local replicated tables.
inline constexpr std::string_view kSiteMinutesTable = "site_minutes";
inline constexpr std::string_view kBreakdownMinutesTable = "breakdown_minutes";
inline constexpr std::string_view kSiteMinutesLocalTable = "site_minutes_local";
inline constexpr std::string_view kBreakdownMinutesLocalTable = "breakdown_minutes_local";

struct SchemaOptions {
  std::string database = "beacon";
  // Rows carry a batch_id and the tables are ReplicatedSummingMergeTree, so ClickHouse's
  // block deduplication makes a resent batch count once. Empty: one server, a single replica
  // of tables named as the analysts query them. Otherwise the <remote_servers> cluster:
  // shard-local tables (suffix _local) and Distributed tables site_minutes /
  // breakdown_minutes over them.
  std::string cluster;
};

// The tables' ZooKeeper paths end in the table's name and this suffix: the definition with
// the weighted columns, which a rebuild (MigrateWeightedStatements) gives a path of its own.
inline constexpr std::string_view kWeightedZkSuffix = "_weighted";

// Idempotent DDL (IF NOT EXISTS), in order, with database-qualified names, creating
// `database` first and dropping the *_in tables and *_mv views of releases that inserted
// visitor-hash arrays (an older beacond must be upgraded first); on a cluster, run it on
// every server. Fails fast on a database or
// cluster name that is not [A-Za-z_][A-Za-z0-9_]*.
std::vector<std::string> SchemaStatements(const SchemaOptions& options);
std::vector<std::string> SchemaStatements(std::string_view database = "beacon");

// The engine of the Distributed table over the shard-local table `local` on `options.cluster`,
// as CREATE makes it and 18.16's system.tables.engine_full shows it:
// "Distributed(<cluster>, <db>, <local>)".
std::string DistributedEngine(const SchemaOptions& options, std::string_view local);

// Of the data tables this shape inserts into, those in `existing` (tables of the database that
// have no weighted_pageviews column): the ones MigrateWeightedStatements must rebuild.
std::vector<std::string> UnweightedTables(const SchemaOptions& options,
                                          const std::vector<std::string>& existing);
// Rebuilds the data table `table`, made before the weighted columns: a table of the current
// definition, the old rows copied in with weights equal to their counts (only when
// `copy_rows`: on a cluster, on one replica per shard, the others fetch them; then the table is
// made anew, dropping one an interrupted run left, which no other replica may share), then
// swapped in
// by RENAME (the old one kept as <table>_unweighted); on a cluster the Distributed table over
// it is made again. ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS, and a SummingMergeTree
// sums only the columns its engine named at creation, so an added column would not be summed.
// Run with beacond stopped: rows inserted during the copy would stay in the old table.
std::vector<std::string> MigrateWeightedStatements(const SchemaOptions& options,
                                                   const std::string& table, bool copy_rows);

// The ClickHouse type of breakdown_minutes.dimension: Enum8 of every kernels::Dimension.
std::string DimensionEnumType();

// Appends one row of site_minutes: site_id UInt32, minute DateTime (seconds), pageviews
// UInt64, events UInt64, visitors AggregateFunction(uniqHLL12, UInt64) (the state's bytes,
// kernels/sketch/) — little-endian.
void AppendSiteMinuteRowBinary(const kernels::SiteMinuteRow& row, std::string* out);
// Appends one row of breakdown_minutes: site_id UInt32, minute DateTime, dimension Enum8
// (Int8), value String (varint length), pageviews UInt64, events UInt64, visitors
// AggregateFunction(uniqHLL12, UInt64).
void AppendBreakdownRowBinary(const kernels::BreakdownRow& row, std::string* out);
// Appends the columns that end every row inserted: batch_id UInt64, weighted_pageviews UInt64,
// weighted_events UInt64.
void AppendRowTailBinary(uint64_t batch_id, uint64_t weighted_pageviews, uint64_t weighted_events,
                         std::string* out);

}  // namespace beacon::host
