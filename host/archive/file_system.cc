// The POSIX file system of the archive; see file_system.h.
#include "host/archive/file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

namespace beacon::host {
namespace {

class PosixFile final : public WritableFile {
 public:
  explicit PosixFile(int fd) : fd_(fd) {}
  ~PosixFile() override { close(fd_); }
  PosixFile(const PosixFile&) = delete;
  PosixFile& operator=(const PosixFile&) = delete;

  int PWrite(uint64_t offset, std::string_view data) override {
    while (!data.empty()) {
      const ssize_t n = pwrite(fd_, data.data(), data.size(), static_cast<off_t>(offset));
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      if (n == 0) return EIO;
      data.remove_prefix(static_cast<size_t>(n));
      offset += static_cast<uint64_t>(n);
    }
    return 0;
  }
  int DataSync() override { return fdatasync(fd_) == 0 ? 0 : errno; }
  int Truncate(uint64_t size) override {
    return ftruncate(fd_, static_cast<off_t>(size)) == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

int OpenWritable(const std::string& path, int flags, std::unique_ptr<WritableFile>* file) {
  const int fd = open(path.c_str(), flags | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return errno;
  // The mode is exact whatever the umask: the archive holds visitors' data.
  if (fchmod(fd, 0600) != 0) {
    const int error = errno;
    close(fd);
    return error;
  }
  *file = std::make_unique<PosixFile>(fd);
  return 0;
}

}  // namespace

int WriteFileAtomically(FileSystem& fs, const std::string& dir, const std::string& name,
                        std::string_view bytes) {
  const std::string path = dir + "/" + name;
  const std::string temporary = path + ".tmp";
  fs.Unlink(temporary);  // a leftover of a crash, if any
  std::unique_ptr<WritableFile> file;
  int error = fs.CreateFile(temporary, &file);
  if (error == 0) error = file->PWrite(0, bytes);
  if (error == 0) error = file->DataSync();
  file.reset();
  if (error == 0) error = fs.Rename(temporary, path);
  if (error == 0) error = fs.SyncDirectory(dir);
  return error;
}

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

int FileSystem::EnsureDirectory(const std::string& dir) {
  bool created = false;
  if (const int error = MakeDirectory(dir, &created); error != 0) return error;
  return created ? SyncDirectory(DirectoryOf(dir)) : 0;
}

int PosixFileSystem::MakeDirectory(const std::string& dir, bool* created) {
  *created = mkdir(dir.c_str(), 0700) == 0;
  if (!*created && errno != EEXIST) return errno;
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) return errno;
  if (!S_ISDIR(st.st_mode)) return ENOTDIR;
  if ((st.st_mode & 07777) != 0700 && chmod(dir.c_str(), 0700) != 0) return errno;
  return 0;
}

int PosixFileSystem::CreateFile(const std::string& path, std::unique_ptr<WritableFile>* file) {
  return OpenWritable(path, O_CREAT | O_EXCL, file);
}

int PosixFileSystem::OpenFile(const std::string& path, std::unique_ptr<WritableFile>* file) {
  return OpenWritable(path, 0, file);
}

int PosixFileSystem::ReadPrefix(const std::string& path, uint64_t max_bytes,
                                std::string* contents) {
  contents->clear();
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  int error = 0;
  char buffer[1 << 16];
  while (contents->size() < max_bytes) {
    const size_t want =
        static_cast<size_t>(std::min<uint64_t>(sizeof(buffer), max_bytes - contents->size()));
    const ssize_t n = read(fd, buffer, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) error = errno;
    if (n <= 0) break;
    contents->append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return error;
}

int PosixFileSystem::List(const std::string& dir, std::vector<DirEntry>* entries) {
  entries->clear();
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return errno;
  while (const dirent* entry = readdir(d)) {
    struct stat st;
    if (fstatat(dirfd(d), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISREG(st.st_mode)) entries->push_back({entry->d_name, static_cast<uint64_t>(st.st_size)});
  }
  closedir(d);
  return 0;
}

int PosixFileSystem::Rename(const std::string& from, const std::string& to) {
  return std::rename(from.c_str(), to.c_str()) == 0 ? 0 : errno;
}

int PosixFileSystem::Unlink(const std::string& path) {
  return unlink(path.c_str()) == 0 ? 0 : errno;
}

int PosixFileSystem::SyncDirectory(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  const int error = fsync(fd) == 0 ? 0 : errno;
  close(fd);
  return error;
}

}  // namespace beacon::host
