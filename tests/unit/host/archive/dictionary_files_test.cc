// Stored archive dictionaries: saved atomically (a crash at any sync point leaves all or none),
// loaded back by id, refused when a file lies about its id.
#include "host/archive/dictionary_files.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <vector>

#include "host/archive/fault_injection_file_system.h"
#include "tests/unit/host/archive/archive_test_util.h"

namespace beacon::host {
namespace {

std::unique_ptr<const kernels::ArchiveDictionary> Trained() {
  std::vector<std::string> payloads;
  for (uint64_t s = 0; s < 2000; ++s) payloads.push_back(TestPayload(s));
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

}  // namespace
}  // namespace beacon::host
