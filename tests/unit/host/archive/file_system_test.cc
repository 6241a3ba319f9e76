// PosixFileSystem modes and the fault-injecting file system's crash model.
#include "host/archive/file_system.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>

#include "host/archive/fault_injection_file_system.h"
#include "tests/unit/host/archive/archive_test_util.h"

namespace beacon::host {
namespace {

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(PosixFileSystem, DirectoriesAre0700AndFiles0600WhateverTheUmask) {
  ScratchDir scratch;
  PosixFileSystem fs;
  const std::string dir = scratch.archive();
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  const mode_t old_umask = umask(0);
  ASSERT_EQ(fs.EnsureDirectory(dir), 0);
  EXPECT_EQ(ModeOf(dir), 0700u);
  std::unique_ptr<WritableFile> file;
  ASSERT_EQ(fs.CreateFile(dir + "/a", &file), 0);
  umask(old_umask);
  EXPECT_EQ(ModeOf(dir + "/a"), 0600u);
  EXPECT_EQ(fs.CreateFile(dir + "/a", &file), EEXIST);
  EXPECT_EQ(fs.EnsureDirectory(dir + "/a"), ENOTDIR);
}

TEST(PosixFileSystem, WriteReadListRenameUnlink) {
  ScratchDir scratch;
  PosixFileSystem fs;
  const std::string dir = scratch.archive();
  ASSERT_EQ(fs.EnsureDirectory(dir), 0);
  std::unique_ptr<WritableFile> file;
  ASSERT_EQ(fs.CreateFile(dir + "/a", &file), 0);
  ASSERT_EQ(file->PWrite(0, "hello world"), 0);
  ASSERT_EQ(file->DataSync(), 0);
  ASSERT_EQ(file->Truncate(5), 0);
  std::string contents;
  ASSERT_EQ(fs.ReadFile(dir + "/a", &contents), 0);
  EXPECT_EQ(contents, "hello");
  ASSERT_EQ(fs.ReadPrefix(dir + "/a", 2, &contents), 0);
  EXPECT_EQ(contents, "he");
  ASSERT_EQ(fs.Rename(dir + "/a", dir + "/b"), 0);
  std::vector<DirEntry> entries;
  ASSERT_EQ(fs.List(dir, &entries), 0);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].name, "b");
  EXPECT_EQ(entries[0].bytes, 5u);
  ASSERT_EQ(fs.Unlink(dir + "/b"), 0);
  ASSERT_EQ(fs.SyncDirectory(dir), 0);
  EXPECT_EQ(fs.ReadFile(dir + "/b", &contents), ENOENT);
}

TEST(FaultInjectionFileSystem, CrashKeepsOnlyWhatWasSynced) {
  ScratchDir scratch;
  PosixFileSystem posix;
  FaultInjectionFileSystem fs(posix);
  const std::string dir = scratch.archive();
  ASSERT_EQ(fs.EnsureDirectory(dir), 0);
  std::unique_ptr<WritableFile> kept, unnamed, doomed;
  ASSERT_EQ(fs.CreateFile(dir + "/kept", &kept), 0);
  ASSERT_EQ(fs.CreateFile(dir + "/doomed", &doomed), 0);
  ASSERT_EQ(fs.SyncDirectory(dir), 0);
  ASSERT_EQ(kept->PWrite(0, "synced"), 0);
  ASSERT_EQ(kept->DataSync(), 0);
  ASSERT_EQ(kept->PWrite(6, " lost"), 0);
  ASSERT_EQ(fs.CreateFile(dir + "/unnamed", &unnamed), 0);  // data synced, name not
  ASSERT_EQ(unnamed->PWrite(0, "data"), 0);
  ASSERT_EQ(unnamed->DataSync(), 0);
  ASSERT_EQ(fs.Unlink(dir + "/doomed"), 0);  // not durable without a directory sync
  std::string contents;
  ASSERT_EQ(fs.ReadFile(dir + "/kept", &contents), 0);
  EXPECT_EQ(contents, "synced lost");  // the process sees its own writes
  EXPECT_EQ(fs.sync_points(), 4u);     // the parent's, for the new directory, first

  fs.Crash();
  EXPECT_EQ(kept->PWrite(0, "x"), EIO);
  EXPECT_EQ(fs.ReadFile(dir + "/kept", &contents), EIO);
  fs.Restart();
  EXPECT_EQ(kept->DataSync(), EIO);  // handles of the crashed process stay dead
  ASSERT_EQ(fs.ReadFile(dir + "/kept", &contents), 0);
  EXPECT_EQ(contents, "synced");
  EXPECT_EQ(fs.ReadFile(dir + "/unnamed", &contents), ENOENT);
  EXPECT_EQ(fs.ReadFile(dir + "/doomed", &contents), 0);
  std::vector<DirEntry> entries;
  ASSERT_EQ(fs.List(dir, &entries), 0);
  EXPECT_EQ(entries.size(), 2u);
}

// A new directory's name lives in its parent: MakeDirectory alone does not survive a crash,
// EnsureDirectory (which syncs the parent) does, with the files synced in it.
TEST(FaultInjectionFileSystem, ANewDirectorySurvivesACrashOnlyOnceItsParentIsSynced) {
  for (const bool ensure : {false, true}) {
    ScratchDir scratch;
    PosixFileSystem posix;
    FaultInjectionFileSystem fs(posix);
    const std::string dir = scratch.archive();
    bool created = false;
    ASSERT_EQ(ensure ? fs.EnsureDirectory(dir) : fs.MakeDirectory(dir, &created), 0);
    bool again = true;
    ASSERT_EQ(fs.MakeDirectory(dir, &again), 0);
    EXPECT_FALSE(again);
    std::unique_ptr<WritableFile> file;
    ASSERT_EQ(fs.CreateFile(dir + "/f", &file), 0);
    ASSERT_EQ(file->PWrite(0, "synced"), 0);
    ASSERT_EQ(file->DataSync(), 0);
    ASSERT_EQ(fs.SyncDirectory(dir), 0);
    fs.Crash();
    fs.Restart();
    std::string contents;
    EXPECT_EQ(fs.ReadFile(dir + "/f", &contents), ensure ? 0 : ENOENT) << "ensure " << ensure;
    EXPECT_EQ(contents, ensure ? "synced" : "");
  }
}

// A fault-injecting file system over a scratch directory that holds the empty file "f", its
// name durable.
struct OneFile {
  OneFile() {
    EXPECT_EQ(fs.EnsureDirectory(dir), 0);
    EXPECT_EQ(fs.CreateFile(dir + "/f", &file), 0);
    EXPECT_EQ(fs.SyncDirectory(dir), 0);
  }
  ScratchDir scratch;
  PosixFileSystem posix;
  FaultInjectionFileSystem fs{posix};
  const std::string dir = scratch.archive();
  std::unique_ptr<WritableFile> file;
};

// A truncation leaves the cache at once and the disk at the file's next DataSync; a write whose
// sync failed stays readable until a crash, and never becomes durable.
TEST(FaultInjectionFileSystem, TruncationsAreDurableOnceSyncedAndFailedWritesAreNever) {
  OneFile one;
  FaultInjectionFileSystem& fs = one.fs;
  const std::string& dir = one.dir;
  std::unique_ptr<WritableFile>& file = one.file;
  ASSERT_EQ(file->PWrite(0, "abcdef"), 0);
  ASSERT_EQ(file->DataSync(), 0);
  fs.FailTruncates(EIO);
  EXPECT_EQ(file->Truncate(2), EIO);
  std::string contents;
  ASSERT_EQ(fs.ReadFile(dir + "/f", &contents), 0);
  EXPECT_EQ(contents, "abcdef");
  fs.FailTruncates(0);
  ASSERT_EQ(file->Truncate(2), 0);
  ASSERT_EQ(file->PWrite(2, "XY"), 0);
  fs.FailSyncs(EIO);
  EXPECT_EQ(file->DataSync(), EIO);
  fs.FailSyncs(0);
  ASSERT_EQ(fs.ReadFile(dir + "/f", &contents), 0);
  EXPECT_EQ(contents, "abXY");
  std::vector<DirEntry> entries;
  ASSERT_EQ(fs.List(dir, &entries), 0);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].bytes, 4u);
  fs.Crash();
  fs.Restart();
  ASSERT_EQ(fs.ReadFile(dir + "/f", &contents), 0);
  EXPECT_EQ(contents, "abcdef");  // neither the failed sync's truncation nor its write
  ASSERT_EQ(fs.OpenFile(dir + "/f", &file), 0);
  ASSERT_EQ(file->Truncate(3), 0);
  ASSERT_EQ(file->DataSync(), 0);
  fs.Crash();
  fs.Restart();
  ASSERT_EQ(fs.ReadFile(dir + "/f", &contents), 0);
  EXPECT_EQ(contents, "abc");
}

TEST(FaultInjectionFileSystem, InjectedErrorsAndSyncPointCrashes) {
  OneFile one;
  FaultInjectionFileSystem& fs = one.fs;
  const std::string& dir = one.dir;
  std::unique_ptr<WritableFile>& file = one.file;
  fs.FailWrites(ENOSPC);
  EXPECT_EQ(file->PWrite(0, "abcd"), ENOSPC);
  fs.FailWrites(0);
  fs.FailSyncs(EIO);
  EXPECT_EQ(file->DataSync(), EIO);  // and the written prefix never becomes durable
  fs.FailSyncs(0);
  ASSERT_EQ(file->PWrite(0, "ok"), 0);
  fs.CrashAtSyncPoint(fs.sync_points() + 1, /*after=*/true);
  EXPECT_EQ(file->DataSync(), 0);
  EXPECT_TRUE(fs.crashed());
  fs.Restart();
  std::string contents;
  ASSERT_EQ(fs.ReadFile(dir + "/f", &contents), 0);
  EXPECT_EQ(contents, "ok");
}

}  // namespace
}  // namespace beacon::host
