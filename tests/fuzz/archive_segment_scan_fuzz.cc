// Property: any bytes given as a segment are scanned without a crash; the segment header,
// valid blocks and damaged regions account for every byte exactly once, in order; a block
// the scanner yields decodes the same twice, and its records, encoded again, decode the same;
// the scan checksums at most 41 times the bytes (+ 150): linear, whatever block magics and
// claimed lengths the bytes hold (kernels/archive/README.md, Recovery rules).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "kernels/archive/block_codec.h"
#include "kernels/archive/segment_scanner.h"

namespace {

using beacon::kernels::ArchiveError;
using beacon::kernels::ArchiveRecord;

void Check(bool ok) {
  if (!ok) std::abort();
}

bool Same(const ArchiveRecord& a, const ArchiveRecord& b) {
  return a.receive_time_ms == b.receive_time_ms && a.address_hash == b.address_hash &&
         a.ingress == b.ingress && a.endpoint == b.endpoint && a.country == b.country &&
         a.payload == b.payload && a.query == b.query && a.user_agent == b.user_agent &&
         a.weight == b.weight;
}

// A block of a segment of format `version`; re-encoded, it is of the current version.
void CheckBlock(std::string_view bytes, uint16_t version) {
  static beacon::kernels::BlockDecoder decoder;
  static beacon::kernels::BlockDecoder again;
  static beacon::kernels::BlockEncoder encoder(1);
  const ArchiveError error = decoder.Decode(bytes, version);
  Check(again.Decode(bytes, version) == error);
  if (error != ArchiveError::kOk) {
    Check(decoder.records().empty());
    return;
  }
  Check(decoder.records().size() == decoder.header().record_count);
  for (const ArchiveRecord& record : decoder.records()) {
    Check(encoder.Add(record) == ArchiveError::kOk);
  }
  std::string block;
  encoder.Finish(decoder.header().first_sequence, &block);
  Check(again.Decode(block) == ArchiveError::kOk);
  Check(again.records().size() == decoder.records().size());
  for (size_t i = 0; i < again.records().size(); ++i) {
    Check(Same(again.records()[i], decoder.records()[i]));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view segment(reinterpret_cast<const char*>(data), size);
  beacon::kernels::SegmentScanner scanner(segment);
  uint64_t covered =
      scanner.header_error() == ArchiveError::kOk ? beacon::kernels::kSegmentHeaderBytes : 0;
  size_t damage_seen = 0;
  beacon::kernels::ScannedBlock block;
  const auto account_damage = [&] {
    for (; damage_seen < scanner.damage().size(); ++damage_seen) {
      const beacon::kernels::ArchiveDamage& damage = scanner.damage()[damage_seen];
      Check(damage.offset == covered && damage.bytes > 0);
      covered += damage.bytes;
    }
  };
  while (scanner.Next(&block)) {
    account_damage();
    Check(block.offset == covered);
    Check(block.bytes.data() == segment.data() + block.offset);
    covered += block.bytes.size();
    Check(scanner.valid_end() == covered);
    CheckBlock(block.bytes, scanner.version());
  }
  account_damage();
  Check(covered == size);
  Check(scanner.valid_end() <= size);
  Check(scanner.checksummed_bytes() <= 41 * uint64_t{size} + 150);
  return 0;
}
