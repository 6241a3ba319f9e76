// SaltStore: persistence across instances, rotation at UTC midnight with an injected clock,
// nothing older than yesterday on disk, corrupt files, concurrent readers across rotations.
#include "host/salt_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace beacon::host {
namespace {

constexpr int64_t kDay = 86'400'000;
constexpr int64_t kDay0 = 20'000;  // 2024-10-04

class SaltStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/salt_store_test.XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    now_ = kDay0 * kDay + 12 * 3'600'000;  // noon
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  UnixClock Clock() {
    return [this] { return now_.load(); };
  }
  std::string FileText() const {
    std::ifstream in(dir_ / SaltStore::kFileName);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
  static std::string Hex(uint64_t salt) {
    char buffer[17];
    std::snprintf(buffer, sizeof buffer, "%016" PRIx64, salt);
    return buffer;
  }
  void WriteFileText(const std::string& text) const {
    std::ofstream(dir_ / SaltStore::kFileName) << text;
  }

  std::filesystem::path dir_;
  std::atomic<int64_t> now_;
};

TEST_F(SaltStoreTest, CreatesAPrivateFileAndKeepsTheSaltAcrossRestarts) {
  kernels::VisitorSalts first;
  {
    SaltStore store(dir_, Clock());
    first = store.Current();
    EXPECT_FALSE(store.replaced_corrupt_file());
  }
  EXPECT_EQ(first.day, kDay0);
  EXPECT_NE(first.today, 0u);
  EXPECT_EQ(first.yesterday, 0u);
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / SaltStore::kFileName).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(FileText(), "beacond-visitor-salts 1\n20000 " + Hex(first.today) + "\n");

  now_ += 11 * 3'600'000;  // 23:00, same day
  SaltStore again(dir_, Clock());
  const kernels::VisitorSalts second = again.Current();
  EXPECT_EQ(second.day, first.day);
  EXPECT_EQ(second.today, first.today);
  EXPECT_FALSE(again.replaced_corrupt_file());
}

TEST_F(SaltStoreTest, RotatesAtUtcMidnightKeepingYesterday) {
  now_ = (kDay0 + 1) * kDay - 1;  // 23:59:59.999
  SaltStore store(dir_, Clock());
  const kernels::VisitorSalts before = store.Current();
  EXPECT_EQ(before.day, kDay0);
  const kernels::IpAddress ip{};
  uint64_t visitor_before = 0;
  ASSERT_TRUE(kernels::VisitorFromAddress(before, now_, 7, ip, "ua", &visitor_before));

  const int64_t late_beacon = now_;
  now_ = (kDay0 + 1) * kDay;  // midnight
  const kernels::VisitorSalts after = store.Current();
  EXPECT_EQ(after.day, kDay0 + 1);
  EXPECT_EQ(after.yesterday, before.today);
  EXPECT_NE(after.today, before.today);
  EXPECT_NE(after.today, 0u);
  // A beacon received before midnight and decoded after it keeps its visitor id.
  uint64_t visitor_after = 0;
  ASSERT_TRUE(kernels::VisitorFromAddress(after, late_beacon, 7, ip, "ua", &visitor_after));
  EXPECT_EQ(visitor_after, visitor_before);
  EXPECT_EQ(FileText(), "beacond-visitor-salts 1\n20000 " + Hex(before.today) + "\n20001 " +
                            Hex(after.today) + "\n");
  // An earlier time does not move the store back.
  EXPECT_EQ(store.At(late_beacon).day, kDay0 + 1);
  // A restart after midnight finds both.
  SaltStore restarted(dir_, Clock());
  const kernels::VisitorSalts loaded = restarted.Current();
  EXPECT_EQ(loaded.today, after.today);
  EXPECT_EQ(loaded.yesterday, after.yesterday);
}

TEST_F(SaltStoreTest, NothingOlderThanYesterdayStaysOnDisk) {
  SaltStore store(dir_, Clock());
  const uint64_t day0 = store.Current().today;
  now_ += kDay;
  const uint64_t day1 = store.Current().today;
  now_ += kDay;
  const kernels::VisitorSalts day2 = store.Current();
  EXPECT_EQ(day2.yesterday, day1);
  const std::string text = FileText();
  EXPECT_EQ(text.find(Hex(day0)), std::string::npos) << text;
  EXPECT_NE(text.find(Hex(day1)), std::string::npos);
  // A gap of days: no yesterday at all.
  now_ += 5 * kDay;
  const kernels::VisitorSalts later = store.Current();
  EXPECT_EQ(later.yesterday, 0u);
  EXPECT_EQ(FileText(), "beacond-visitor-salts 1\n20007 " + Hex(later.today) + "\n");
  // A file left from days ago (beacond was stopped) is pruned at start.
  now_ += 3 * kDay;
  SaltStore restarted(dir_, Clock());
  EXPECT_EQ(restarted.Current().yesterday, 0u);
  EXPECT_NE(restarted.Current().today, later.today);
  EXPECT_EQ(FileText().find(Hex(later.today)), std::string::npos);
  EXPECT_FALSE(restarted.replaced_corrupt_file());
}

TEST_F(SaltStoreTest, ReplacesCorruptFiles) {
  const char* kCorrupt[] = {
      "",
      "garbage\n",
      "beacond-visitor-salts 2\n20000 0123456789abcdef\n",
      "beacond-visitor-salts 1\n20000 0123456789abcde\n",     // 15 digits
      "beacond-visitor-salts 1\n20000 0123456789ABCDEF\n",    // upper case
      "beacond-visitor-salts 1\n20000 0000000000000000\n",    // zero salt
      "beacond-visitor-salts 1\n20000 0123456789abcdef x\n",  // trailing text
      "beacond-visitor-salts 1\n20000 0123456789abcdef\n20000 1123456789abcdef\n",
      "beacond-visitor-salts 1\n19999 0123456789abcdef\n20000 1123456789abcdef\n"
      "20001 2123456789abcdef\n",
  };
  for (const char* text : kCorrupt) {
    WriteFileText(text);
    SaltStore store(dir_, Clock());
    EXPECT_TRUE(store.replaced_corrupt_file()) << text;
    const kernels::VisitorSalts salts = store.Current();
    EXPECT_NE(salts.today, 0u);
    EXPECT_NE(salts.today, 0x0123456789abcdefu);
    SaltStore reread(dir_, Clock());
    EXPECT_FALSE(reread.replaced_corrupt_file()) << text;
    EXPECT_EQ(reread.Current().today, salts.today);
  }
}

// A salt file that opens but whose read(2) fails (an I/O error; here /proc/self/mem, whose
// offset 0 is not mapped: EIO) holds today's salt all the same. Taking the empty text as a
// corrupt file would make a new salt for the day (every visitor hashed again: visitors counted
// twice) and overwrite the file; the store refuses to start instead and leaves it alone. A
// directory in its place (EISDIR) is refused too, naming the path and the error.
TEST_F(SaltStoreTest, AFileThatCannotBeReadIsRefusedNotReplaced) {
  const std::filesystem::path file = dir_ / SaltStore::kFileName;
  std::filesystem::create_symlink("/proc/self/mem", file);
  try {
    SaltStore store(dir_, Clock());
    ADD_FAILURE() << "an unreadable salt file was taken (replaced_corrupt_file "
                  << store.replaced_corrupt_file() << ")";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot read the visitor salt file '" + file.string() +
                                         "': Input/output error"),
              std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(std::filesystem::is_symlink(file)) << "the salt file was replaced";
  EXPECT_FALSE(std::filesystem::exists(dir_ / "visitor-salts.tmp"));
  std::filesystem::remove(file);
  std::filesystem::create_directory(file);
  try {
    SaltStore store(dir_, Clock());
    ADD_FAILURE() << "a directory was taken as the salt file";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot read the visitor salt file '" + file.string() +
                                         "': Is a directory"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ / "visitor-salts.tmp"));
}

TEST_F(SaltStoreTest, ReadsAValidFileAndRemovesACrashedWrite) {
  WriteFileText("beacond-visitor-salts 1\n19999 00000000000000aa\n20000 00000000000000bb\n");
  std::ofstream(dir_ / "visitor-salts.tmp") << "half written";
  SaltStore store(dir_, Clock());
  EXPECT_FALSE(store.replaced_corrupt_file());
  const kernels::VisitorSalts salts = store.Snapshot();
  EXPECT_EQ(salts.today, 0xbbu);
  EXPECT_EQ(salts.yesterday, 0xaau);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "visitor-salts.tmp"));
}

TEST_F(SaltStoreTest, AnExistingLooseDirectoryAndFileBecomeOwnerOnly) {
  ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
  WriteFileText("beacond-visitor-salts 1\n20000 00000000000000bb\n");
  ASSERT_EQ(::chmod((dir_ / SaltStore::kFileName).c_str(), 0644), 0);
  SaltStore store(dir_, Clock());
  struct stat st {};
  ASSERT_EQ(::stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(::stat((dir_ / SaltStore::kFileName).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(store.Current().today, 0xbbu);
}

TEST_F(SaltStoreTest, RefusesASharedStickyDirectory) {
  ASSERT_EQ(::chmod(dir_.c_str(), 01777), 0);
  EXPECT_THROW(SaltStore(dir_, Clock()), std::runtime_error);
}

TEST_F(SaltStoreTest, FailsWithThePathWhenTheDirectoryCannotBeMade) {
  try {
    SaltStore store("/dev/null/state", Clock());
    FAIL() << "a state directory under /dev/null was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/dev/null/state"), std::string::npos) << e.what();
  }
}

TEST_F(SaltStoreTest, AFailedRotationWriteRotatesInMemoryAndLeavesNoOldSalt) {
  SaltStore store(dir_, Clock());
  const uint64_t day0 = store.Current().today;
  // A directory where the temporary file goes makes the write fail.
  std::filesystem::create_directory(dir_ / "visitor-salts.tmp");
  now_ += kDay;
  const kernels::VisitorSalts day1 = store.Current();
  EXPECT_EQ(day1.day, kDay0 + 1);
  EXPECT_EQ(day1.yesterday, day0);
  EXPECT_EQ(store.write_failures(), 1u);
  EXPECT_FALSE(std::filesystem::exists(dir_ / SaltStore::kFileName));
  std::filesystem::remove(dir_ / "visitor-salts.tmp");
  now_ += kDay;
  const kernels::VisitorSalts day2 = store.Current();
  EXPECT_EQ(day2.yesterday, day1.today);
  EXPECT_EQ(store.write_failures(), 1u);
  EXPECT_EQ(FileText(), "beacond-visitor-salts 1\n20001 " + Hex(day1.today) + "\n20002 " +
                            Hex(day2.today) + "\n");
}

TEST_F(SaltStoreTest, ConcurrentReadersSeeConsistentSaltsAcrossRotations) {
  SaltStore store(dir_, Clock());
  std::mutex mutex;
  std::map<int64_t, std::pair<uint64_t, uint64_t>> seen;  // day -> (today, yesterday)
  bool consistent = true;
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        const kernels::VisitorSalts s = store.Current();
        std::lock_guard<std::mutex> lock(mutex);
        const auto [it, inserted] = seen.try_emplace(s.day, s.today, s.yesterday);
        if (!inserted && it->second != std::make_pair(s.today, s.yesterday)) consistent = false;
      }
    });
  }
  // Each new day is held until a reader has seen it, so every day is observed.
  for (int d = 0; d <= 20; ++d) {
    if (d > 0) now_ += kDay;
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (seen.count(kDay0 + d) != 0) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  stop = true;
  for (std::thread& t : readers) t.join();
  EXPECT_TRUE(consistent);
  for (const auto& [day, salts] : seen) {
    const auto previous = seen.find(day - 1);
    if (previous != seen.end()) {
      EXPECT_EQ(salts.second, previous->second.first) << day;
    }
  }
  EXPECT_EQ(seen.size(), 21u);
}

}  // namespace
}  // namespace beacon::host
