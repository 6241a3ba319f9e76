// Stored archive dictionaries: saved atomically (a crash at any sync point leaves all or none),
// loaded back by id, refused when a file lies about its id.
#include "host/archive/dictionary_files.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <vector>

#include "host/archive/archive_scanner.h"
#include "host/archive/fault_injection_file_system.h"
#include "host/archive/segment_writer.h"
#include "tests/unit/host/archive/archive_test_util.h"

namespace beacon::host {
namespace {

// `salt` makes another dictionary (another id) of the same kind of records.
std::unique_ptr<const kernels::ArchiveDictionary> Trained(const std::string& salt = "") {
  std::vector<std::string> payloads;
  for (uint64_t s = 0; s < 2000; ++s) payloads.push_back(TestPayload(s) + salt);
  std::vector<kernels::ArchiveRecord> records;
  for (uint64_t s = 0; s < payloads.size(); ++s) records.push_back(TestRecord(s, payloads[s]));
  return kernels::ArchiveDictionary::Load(kernels::TrainArchiveDictionary(records, 8 << 10));
}

TEST(DictionaryFiles, SaveAndLoadById) {
  ScratchDir scratch;
  PosixFileSystem fs;
  ASSERT_EQ(fs.EnsureDirectory(scratch.archive()), 0);
  const auto dictionary = Trained();
  ASSERT_NE(dictionary, nullptr);
  ASSERT_EQ(SaveDictionary(fs, scratch.archive(), *dictionary), 0);
  EXPECT_EQ(SaveDictionary(fs, scratch.archive(), *dictionary), EEXIST);
  kernels::DictionarySet set;
  ASSERT_EQ(LoadDictionaries(fs, scratch.archive(), &set), 0);
  ASSERT_NE(set.Find(dictionary->id()), nullptr);
  EXPECT_EQ(set.Find(dictionary->id())->bytes(), dictionary->bytes());

  std::unique_ptr<WritableFile> liar;
  ASSERT_EQ(fs.CreateFile(scratch.archive() + "/" + DictionaryFileName(7), &liar), 0);
  ASSERT_EQ(liar->PWrite(0, dictionary->bytes()), 0);
  kernels::DictionarySet other;
  EXPECT_EQ(LoadDictionaries(fs, scratch.archive(), &other), EINVAL);
}

TEST(DictionaryFiles, CrashAtEverySyncPointLeavesAllOrNothing) {
  const auto dictionary = Trained();
  ASSERT_NE(dictionary, nullptr);
  for (uint64_t point = 1; point <= 2; ++point) {
    for (const bool after : {false, true}) {
      ScratchDir scratch;
      PosixFileSystem posix;
      FaultInjectionFileSystem fs(posix);
      ASSERT_EQ(fs.EnsureDirectory(scratch.archive()), 0);
      fs.CrashAtSyncPoint(fs.sync_points() + point, after);  // after the directory's own
      SaveDictionary(fs, scratch.archive(), *dictionary);
      ASSERT_TRUE(fs.crashed());
      fs.Restart();
      fs.CrashAtSyncPoint(0, false);
      kernels::DictionarySet set;
      ASSERT_EQ(LoadDictionaries(fs, scratch.archive(), &set), 0);
      EXPECT_EQ(set.Find(dictionary->id()) != nullptr, point == 2 && after);
      if (set.Find(dictionary->id()) == nullptr) {
        ASSERT_EQ(SaveDictionary(fs, scratch.archive(), *dictionary), 0);
        ASSERT_EQ(LoadDictionaries(fs, scratch.archive(), &set), 0);
        EXPECT_NE(set.Find(dictionary->id()), nullptr);
      }
    }
  }
}

// Writes `records` records of worker 0 from `first` on with `dictionary`.
void WriteWith(FileSystem& fs, const std::string& dir, const kernels::ArchiveDictionary& dictionary,
               uint64_t first, uint64_t records) {
  SegmentWriterOptions options;
  options.directory = dir;
  options.block_bytes = 1 << 10;
  options.dictionary = &dictionary;
  options.min_first_sequence = first;
  std::unique_ptr<SegmentWriter> writer;
  ASSERT_EQ(SegmentWriter::Open(fs, options, &writer), 0);
  std::vector<std::string> payloads;
  for (uint64_t s = first; s < first + records; ++s) payloads.push_back(TestPayload(s));
  for (uint64_t s = first; s < first + records; ++s) {
    ASSERT_EQ(writer->Append(TestRecord(s, payloads[s - first])), s);
  }
  ASSERT_TRUE(writer->Flush());
}

// A dictionary file that is lost or damaged costs the blocks that need it, counted, and nothing
// else: every other dictionary file is still loaded, whatever order the directory lists them in.
TEST(DictionaryFiles, ADamagedFileCostsOnlyTheBlocksThatNeedIt) {
  ScratchDir scratch;
  PosixFileSystem fs;
  const std::string dir = scratch.archive();
  ASSERT_EQ(fs.EnsureDirectory(dir), 0);
  const auto kept = Trained();
  const auto lost = Trained("&lost=1");
  ASSERT_NE(kept, nullptr);
  ASSERT_NE(lost, nullptr);
  ASSERT_NE(kept->id(), lost->id());
  WriteWith(fs, dir, *kept, 1, 300);
  WriteWith(fs, dir, *lost, 301, 300);
  // Damaged files listed before and after the good one: garbage, a cut-short dictionary, and the
  // lost dictionary's file with its bytes flipped.
  ASSERT_EQ(WriteFileAtomically(fs, dir, DictionaryFileName(1), "not a dictionary"), 0);
  ASSERT_EQ(SaveDictionary(fs, dir, *kept), 0);
  ASSERT_EQ(WriteFileAtomically(fs, dir, DictionaryFileName(kept->id() + 1),
                                kept->bytes().substr(0, 100)),
            0);
  std::string flipped(lost->bytes());
  for (size_t i = 0; i < 8; ++i) flipped[i] = static_cast<char>(~flipped[i]);
  ASSERT_EQ(WriteFileAtomically(fs, dir, DictionaryFileName(lost->id()), flipped), 0);
  ASSERT_EQ(WriteFileAtomically(fs, dir, "dict-9.zdict", "\x37\xa4\x30\xec garbage"), 0);

  kernels::DictionarySet set;
  std::vector<std::string> refused;
  EXPECT_EQ(LoadDictionaries(fs, dir, &set, &refused), EINVAL);
  EXPECT_NE(set.Find(kept->id()), nullptr);
  EXPECT_EQ(set.Find(lost->id()), nullptr);
  EXPECT_EQ(refused.size(), 4u);

  ArchiveScanStats stats;
  ASSERT_EQ(VerifyArchive(fs, dir, &set, &stats), 0);
  EXPECT_EQ(stats.records, 300u);
  EXPECT_EQ(stats.lost_records, 300u);
  EXPECT_GT(stats.corrupt_blocks, 0u);
  ASSERT_FALSE(stats.damage.empty());
  for (const SegmentDamage& damage : stats.damage) {
    EXPECT_EQ(damage.damage.error, kernels::ArchiveError::kUnknownDictionary);
  }
}

}  // namespace
}  // namespace beacon::host
