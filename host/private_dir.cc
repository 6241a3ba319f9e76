// Owner-only directories and files.
#include "host/private_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>

namespace beacon::host {
namespace {

[[noreturn]] void Fail(std::string_view who, const std::string& what,
                       const std::filesystem::path& dir) {
  throw std::runtime_error(std::string(who) + ": " + what + " '" + dir.string() + "'");
}

}  // namespace

void EnsurePrivateDirectory(const std::filesystem::path& dir, std::string_view who) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    if (dir.has_parent_path()) std::filesystem::create_directories(dir.parent_path(), ec);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      Fail(who, std::string("cannot create (") + std::strerror(errno) + ")", dir);
    }
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    Fail(who, std::string("cannot stat (") + std::strerror(errno) + ")", dir);
  }
  if ((st.st_mode & 07777) == 0700) return;
  if (st.st_uid != ::geteuid() || (st.st_mode & S_ISVTX) != 0) {
    Fail(who, "is open to other users and not beacond's own: give beacond a directory of its own",
         dir);
  }
  if (::chmod(dir.c_str(), 0700) != 0) {
    Fail(who, std::string("cannot make mode 0700 (") + std::strerror(errno) + ")", dir);
  }
}

void RestrictFiles(const std::filesystem::path& dir) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    struct stat st {};
    if (::lstat(entry.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if ((st.st_mode & 077) != 0) ::chmod(entry.path().c_str(), 0600);
  }
}

}  // namespace beacon::host
