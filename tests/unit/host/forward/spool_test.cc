// Spool: records come back in order across a reopen; a torn tail and a corrupt frame are set
// aside, counted and never returned; a record that cannot be read now stays; a full spool
// refuses; records put back are adopted.
#include "host/forward/spool.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace beacon::host {
namespace {

namespace fs = std::filesystem;

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "beacon-spool-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The record files, oldest first.
  std::vector<fs::path> Records() const {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      if (entry.path().extension() == ".rec") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    return files;
  }

  static void Append(Spool& spool, const std::string& payload) {
    std::string error;
    ASSERT_EQ(spool.Append(payload, &error), SpoolAppend::kOk) << error;
  }

  std::string dir_;
};

TEST_F(SpoolTest, ReturnsRecordsInOrderAcrossAReopen) {
  {
    Spool spool(dir_, 1 << 20, true);
    Append(spool, "first");
    Append(spool, std::string(100'000, 'x'));
    Append(spool, "");
    EXPECT_EQ(spool.records(), 3u);
    EXPECT_EQ(spool.bytes(),
              Spool::RecordBytes(5) + Spool::RecordBytes(100'000) + Spool::RecordBytes(0));
  }
  Spool spool(dir_, 1 << 20, true);
  ASSERT_EQ(spool.records(), 3u);
  std::string payload;
  ASSERT_TRUE(spool.Front(&payload));
  EXPECT_EQ(payload, "first");
  spool.PopFront();
  Append(spool, "fourth");  // after the reopen, numbered after the old records
  ASSERT_TRUE(spool.Front(&payload));
  EXPECT_EQ(payload, std::string(100'000, 'x'));
  spool.PopFront();
  ASSERT_TRUE(spool.Front(&payload));
  EXPECT_EQ(payload, "");
  spool.PopFront();
  ASSERT_TRUE(spool.Front(&payload));
  EXPECT_EQ(payload, "fourth");
  spool.PopFront();
  EXPECT_FALSE(spool.Front(&payload));
  EXPECT_TRUE(spool.empty());
  EXPECT_EQ(spool.bytes(), 0u);
  EXPECT_TRUE(Records().empty());
  EXPECT_EQ(spool.torn_records() + spool.corrupt_records(), 0u);
}

TEST_F(SpoolTest, DirectoryAndRecordsAreOwnerOnlyAlsoWhenTheDirectoryExisted) {
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
  {
    Spool spool(dir_, 1 << 20, false);
    Append(spool, "older");
  }
  ASSERT_EQ(chmod(Records().at(0).c_str(), 0644), 0);  // as written before 0600 was enforced
  Spool spool(dir_, 1 << 20, false);
  Append(spool, "newer");
  struct stat st {};
  ASSERT_EQ(stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  for (const fs::path& record : Records()) {
    ASSERT_EQ(stat(record.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << record;
  }
}

TEST_F(SpoolTest, CutsATornTailAndCountsIt) {
  {
    Spool spool(dir_, 1 << 20, false);
    Append(spool, "whole");
    Append(spool, std::string(1000, 'y'));
  }
  const auto files = Records();
  ASSERT_EQ(files.size(), 2u);
  fs::resize_file(files[1], fs::file_size(files[1]) - 10);  // the write stopped short
  Spool spool(dir_, 1 << 20, false);
  std::string payload;
  ASSERT_TRUE(spool.Front(&payload));
  EXPECT_EQ(payload, "whole");
  spool.PopFront();
  EXPECT_FALSE(spool.Front(&payload));
  EXPECT_EQ(spool.torn_records(), 1u);
  EXPECT_EQ(spool.corrupt_records(), 0u);
  EXPECT_FALSE(fs::exists(files[1]));
  EXPECT_TRUE(fs::exists(files[1].string() + ".torn"));  // set aside, not deleted
  EXPECT_EQ(spool.bytes(), 0u);
}

TEST_F(SpoolTest, HandsTornAndCorruptRecordsToItsSetAside) {
  {
    Spool spool(dir_, 1 << 20, false);
    Append(spool, "torn");
    Append(spool, "corrupt");
    Append(spool, "good");
  }
  const auto files = Records();
  fs::resize_file(files[0], fs::file_size(files[0]) - 1);
  fs::resize_file(files[1], fs::file_size(files[1]) + 1);  // longer than its frame says
  std::vector<std::string> reasons;
  Spool spool(dir_, 1 << 20, false, [&](const std::string& path, const std::string& reason) {
    reasons.push_back(reason);
    return fs::remove(path);
  });
  std::string payload;
  ASSERT_TRUE(spool.Front(&payload));
  EXPECT_EQ(payload, "good");
  ASSERT_EQ(reasons.size(), 2u);
  EXPECT_NE(reasons[0].find("torn"), std::string::npos);
  EXPECT_NE(reasons[1].find("corrupt"), std::string::npos);
  EXPECT_EQ(Records().size(), 1u);
}

// Out of file descriptors (EMFILE): the record cannot even be opened, which says nothing about
// its bytes. It stays, is not counted as torn, and is read once descriptors are free again.
TEST_F(SpoolTest, KeepsARecordItCannotOpenAndReadsItLater) {
  Spool spool(dir_, 1 << 20, false);
  Append(spool, "kept");
  rlimit before{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &before), 0);
  const int lowest_free = dup(0);  // the descriptor the next open would get
  ASSERT_GE(lowest_free, 0);
  close(lowest_free);
  rlimit tight = before;
  tight.rlim_cur = static_cast<rlim_t>(lowest_free);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &tight), 0);
  std::string payload;
  const bool read = spool.Front(&payload);
  const int error = spool.read_error();
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &before), 0);
  EXPECT_FALSE(read);
  EXPECT_EQ(error, EMFILE);
  EXPECT_EQ(spool.records(), 1u);
  EXPECT_EQ(spool.torn_records() + spool.corrupt_records(), 0u);
  EXPECT_EQ(Records().size(), 1u);
  ASSERT_TRUE(spool.Front(&payload));
  EXPECT_EQ(payload, "kept");
  EXPECT_EQ(spool.read_error(), 0);
}

// A read that fails after the open (here EISDIR: a directory where the record should be; EIO
// from a failing disk takes the same path) keeps the record too.
TEST_F(SpoolTest, KeepsARecordWhoseReadFails) {
  {
    Spool spool(dir_, 1 << 20, false);
    Append(spool, "first");
  }
  const fs::path record = Records().at(0);
  fs::rename(record, dir_ + "/aside");
  fs::create_directory(record);
  Spool spool(dir_, 1 << 20, false);
  std::string payload;
  EXPECT_FALSE(spool.Front(&payload));
  EXPECT_EQ(spool.read_error(), EISDIR);
  EXPECT_EQ(spool.records(), 1u);
  EXPECT_EQ(spool.torn_records() + spool.corrupt_records(), 0u);
  fs::remove(record);
  fs::rename(dir_ + "/aside", record);
  ASSERT_TRUE(spool.Front(&payload));
  EXPECT_EQ(payload, "first");
}

// Permission denied (EACCES): as root, a child that became nobody reads the spool of root's
// 0700 directory; otherwise the record is made unreadable (mode 000).
TEST_F(SpoolTest, KeepsARecordItMayNotRead) {
  Spool spool(dir_, 1 << 20, false);
  Append(spool, "kept");
  const bool root = geteuid() == 0;
  if (!root) {
    ASSERT_EQ(chmod(Records().at(0).c_str(), 0), 0);
  }
  EXPECT_EXIT(
      {
        if (root && setuid(65534) != 0) std::_Exit(2);
        std::string payload;
        const bool read = spool.Front(&payload);
        std::_Exit(!read && spool.read_error() == EACCES && spool.records() == 1 ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
  if (!root) {
    ASSERT_EQ(chmod(Records().at(0).c_str(), 0600), 0);
  }
  std::string payload;
  ASSERT_TRUE(spool.Front(&payload));
  EXPECT_EQ(payload, "kept");
  EXPECT_EQ(spool.torn_records() + spool.corrupt_records(), 0u);
}

TEST_F(SpoolTest, AdoptsRecordsPutBackAsItsNewest) {
  std::string returned_path;
  {
    Spool spool(dir_ + "/elsewhere", 1 << 20, false);
    Append(spool, "put back");
    returned_path = spool.dir() + "/00000000000000000000.rec";
  }
  Spool spool(dir_, 1 << 20, true);
  Append(spool, "mine");
  fs::rename(returned_path, dir_ + "/1234-s1.retry");
  EXPECT_EQ(spool.AdoptReturned(), 1u);
  EXPECT_EQ(spool.records(), 2u);
  EXPECT_FALSE(fs::exists(dir_ + "/1234-s1.retry"));
  std::string payload;
  ASSERT_TRUE(spool.Front(&payload));
  EXPECT_EQ(payload, "mine");
  EXPECT_FALSE(spool.front_inherited());
  spool.PopFront();
  ASSERT_TRUE(spool.Front(&payload));
  EXPECT_EQ(payload, "put back");
  EXPECT_TRUE(spool.front_inherited());
  EXPECT_EQ(spool.bytes(), Spool::RecordBytes(payload.size()));
}

TEST_F(SpoolTest, SetsACorruptFrameAsideAndSkipsIt) {
  {
    Spool spool(dir_, 1 << 20, false);
    Append(spool, "damaged payload");
    Append(spool, "good");
  }
  const auto files = Records();
  ASSERT_EQ(files.size(), 2u);
  {
    std::fstream file(files[0], std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(-3, std::ios::end);
    file.put('#');  // one byte of the payload flipped: the CRC no longer matches
  }
  Spool spool(dir_, 1 << 20, false);
  std::string payload;
  ASSERT_TRUE(spool.Front(&payload));
  EXPECT_EQ(payload, "good");
  EXPECT_EQ(spool.corrupt_records(), 1u);
  EXPECT_EQ(spool.torn_records(), 0u);
  EXPECT_TRUE(fs::exists(files[0].string() + ".corrupt"));
  EXPECT_EQ(spool.records(), 1u);
}

TEST_F(SpoolTest, RefusesARecordBeyondItsBoundUntilOneIsRemoved) {
  const uint64_t bound = 2 * Spool::RecordBytes(100);
  Spool spool(dir_, bound, false);
  // The first record is taken even beyond the bound, so one batch can always wait.
  Append(spool, std::string(3 * 100, 'a'));
  std::string error;
  EXPECT_EQ(spool.Append(std::string(100, 'b'), &error), SpoolAppend::kFull);
  spool.PopFront();
  Append(spool, std::string(100, 'b'));
  Append(spool, std::string(100, 'c'));
  EXPECT_EQ(spool.Append("d", &error), SpoolAppend::kFull);
  EXPECT_EQ(spool.records(), 2u);
  EXPECT_EQ(spool.bytes(), bound);
  EXPECT_EQ(Records().size(), 2u);
}

TEST_F(SpoolTest, RemovesAnUnfinishedWriteOnOpen) {
  { std::ofstream(dir_ + "/00000000000000000007.rec.tmp") << "half a record"; }
  Spool spool(dir_, 1 << 20, false);
  EXPECT_TRUE(spool.empty());
  EXPECT_FALSE(fs::exists(dir_ + "/00000000000000000007.rec.tmp"));
}

TEST_F(SpoolTest, ReportsAWriteItCannotMake) {
  Spool spool(dir_ + "/sub", 1 << 20, true);
  fs::remove_all(dir_ + "/sub");
  std::string error;
  EXPECT_EQ(spool.Append("x", &error), SpoolAppend::kIoError);
  EXPECT_NE(error.find("cannot write spool record"), std::string::npos) << error;
  EXPECT_TRUE(spool.empty());
}

}  // namespace
}  // namespace beacon::host
