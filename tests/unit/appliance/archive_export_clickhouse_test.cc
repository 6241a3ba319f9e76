// `beaconctl archive export --format rowbinary` against a real clickhouse-server 18.16: the
// raw-events table's DDL applies, and exported rows land with every field as archived.
#include <gtest/gtest.h>

#include <memory>
#include <sstream>
#include <string>
#include <string_view>

#include "appliance/ctl/archive_tool.h"
#include "host/archive/segment_writer.h"
#include "host/forward/clickhouse_client.h"
#include "tests/unit/host/archive/archive_test_util.h"
#include "tests/unit/host/forward/local_clickhouse.h"

namespace beacon::app {
namespace {

TEST(ArchiveExportClickHouseTest, RowBinaryLandsInTheRawEventsTable) {
  host::ScratchDir scratch;
  host::PosixFileSystem fs;
  host::SegmentWriterOptions options;
  options.directory = scratch.archive();
  options.worker = 3;
  std::unique_ptr<host::SegmentWriter> writer;
  ASSERT_EQ(host::SegmentWriter::Open(fs, options, &writer), 0);
  for (uint64_t i = 1; i <= 50; ++i) {
    const std::string payload = host::TestPayload(i);
    kernels::ArchiveRecord record = host::TestRecord(i, payload);
    record.country = static_cast<uint16_t>(('F' << 8) | 'R');
    record.endpoint = kernels::Endpoint::kGa4Gtag;
    record.ingress = kernels::IngressKind::kUdpRelay;
    record.query = "v=2&tid=G-1";
    if (i == 7) record.user_agent = std::string_view("bytes \xff\x00 end", 12);
    ASSERT_EQ(writer->Append(record), i);
  }
  ASSERT_TRUE(writer->Flush());

  std::ostringstream rows, err;
  ArchiveFilter filter;
  filter.from_ms = 1'700'000'000'000 + 5;
  ASSERT_EQ(ArchiveExportRowBinary(fs, scratch.archive(), filter, rows, err), 0) << err.str();

  host::ClickHouseClient client(
      host::Endpoint(host::LocalClickHouse::Shared().url(), "archive_db"));
  for (const std::string& sql :
       {std::string("CREATE DATABASE IF NOT EXISTS archive_db"), RawEventsTableDdl("archive_db"),
        RawEventsTableDdl("archive_db")}) {
    const host::ClickHouseResult result = client.Execute(sql);
    ASSERT_TRUE(result.ok()) << sql << "\n" << result.error << result.body;
  }
  const host::ClickHouseResult inserted = client.InsertRowBinary("raw_events", rows.str());
  ASSERT_TRUE(inserted.ok()) << inserted.error << inserted.body;
  const host::ClickHouseResult sums = client.Execute(
      "SELECT count(), min(sequence), max(sequence), any(worker), any(ingress), any(endpoint), "
      "any(country), min(receive_time_ms), toUnixTimestamp(min(receive_time)), "
      "sum(address_hash = sequence * 11400714819323198485), any(query) "
      "FROM archive_db.raw_events FORMAT TSV");
  ASSERT_TRUE(sums.ok()) << sums.error << sums.body;
  EXPECT_EQ(sums.body,
            "46\t5\t50\t3\tudp_relay\tga4_gtag\tFR\t1700000000005\t1700000000\t46\t"
            "v=2&tid=G-1\n");
  const host::ClickHouseResult payloads = client.Execute(
      "SELECT sequence, payload FROM archive_db.raw_events ORDER BY sequence FORMAT TSV");
  ASSERT_TRUE(payloads.ok()) << payloads.body;
  std::string expected;
  for (uint64_t i = 5; i <= 50; ++i) {
    expected += std::to_string(i) + "\t" + host::TestPayload(i) + "\n";
  }
  EXPECT_EQ(payloads.body, expected);
  const host::ClickHouseResult agent = client.Execute(
      "SELECT hex(user_agent) FROM archive_db.raw_events WHERE sequence = 7 FORMAT TSV");
  ASSERT_TRUE(agent.ok()) << agent.body;
  EXPECT_EQ(agent.body, "627974657320FF0020656E64\n");
}

}  // namespace
}  // namespace beacon::app
