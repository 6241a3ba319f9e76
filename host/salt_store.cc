// Daily visitor salts: getrandom, an atomically replaced state file, a sequence lock for
// lock-free reads; see salt_store.h.
#include "host/salt_store.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>

#include "host/private_dir.h"
#include "kernels/read_file.h"
#include "kernels/unix_time.h"

namespace beacon::host {
namespace {

constexpr std::string_view kHeader = "beacond-visitor-salts 1";

uint64_t RandomSalt() {
  uint64_t salt = 0;
  while (salt == 0) {  // 0 means "no salt" in VisitorSalts
    const ssize_t n = getrandom(&salt, sizeof salt, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof salt)) {
      throw std::runtime_error(std::string("getrandom for a visitor salt failed: ") +
                               std::strerror(errno));
    }
  }
  return salt;
}

[[noreturn]] void FailErrno(const std::string& what, const std::filesystem::path& path) {
  throw std::runtime_error(what + " '" + path.string() + "': " + std::strerror(errno));
}

// Parses the salt file; false when it is not exactly the header and lines "<day> <16 hex>"
// with distinct days and non-zero salts.
bool ParseSalts(const std::string& text, int64_t today, kernels::VisitorSalts* salts,
                bool* dropped) {
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != kHeader) return false;
  int64_t seen[2] = {INT64_MIN, INT64_MIN};
  size_t count = 0;
  while (std::getline(in, line)) {
    long long day = 0;
    char hex[17] = {};
    int consumed = 0;
    if (std::sscanf(line.c_str(), "%lld %16[0-9a-f]%n", &day, hex, &consumed) != 2 ||
        static_cast<size_t>(consumed) != line.size() || std::strlen(hex) != 16) {
      return false;
    }
    const uint64_t salt = std::strtoull(hex, nullptr, 16);
    if (salt == 0 || count == 2 || day == seen[0]) return false;
    seen[count++] = day;
    if (day == today) {
      salts->today = salt;
    } else if (day == today - 1) {
      salts->yesterday = salt;
    } else {
      *dropped = true;  // older than yesterday, or from a later day (the clock went back)
    }
  }
  return true;
}

}  // namespace

SaltStore::SaltStore(std::filesystem::path state_dir, UnixClock clock)
    : dir_(std::move(state_dir)), file_(dir_ / kFileName), clock_(std::move(clock)) {
  std::error_code ec;
  EnsurePrivateDirectory(dir_, "salt store: state directory");
  RestrictFiles(dir_);
  std::filesystem::remove(dir_ / (std::string(kFileName) + ".tmp"), ec);  // a crashed write
  const int64_t today = kernels::UnixDay(clock_());
  kernels::VisitorSalts salts;
  salts.day = today;
  bool rewrite = false;
  // A file that cannot be opened or read (EIO, EISDIR) may hold today's salt: refused, not
  // replaced by a new salt (visitors hashed anew mid-day would be counted twice).
  std::string text;
  errno = 0;
  if (kernels::ReadWholeFile(file_.string(), &text)) {
    if (!ParseSalts(text, today, &salts, &rewrite)) {
      salts = {today, 0, 0};
      replaced_corrupt_file_ = true;
      rewrite = true;
    }
  } else if (const int read_errno = errno; std::filesystem::exists(file_, ec)) {
    errno = read_errno != 0 ? read_errno : EIO;
    FailErrno("cannot read the visitor salt file", file_);
  }
  if (salts.today == 0) {
    salts.today = RandomSalt();
    rewrite = true;
  }
  if (rewrite) WriteFile(salts);
  Publish(salts);
}

void SaltStore::WriteFile(const kernels::VisitorSalts& salts) const {
  std::string text(kHeader);
  text += '\n';
  char line[64];
  if (salts.yesterday != 0) {
    std::snprintf(line, sizeof line, "%" PRId64 " %016" PRIx64 "\n", salts.day - 1,
                  salts.yesterday);
    text += line;
  }
  std::snprintf(line, sizeof line, "%" PRId64 " %016" PRIx64 "\n", salts.day, salts.today);
  text += line;

  const std::filesystem::path tmp = dir_ / (std::string(kFileName) + ".tmp");
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) FailErrno("cannot create", tmp);
  bool ok = ::fchmod(fd, 0600) == 0;
  size_t written = 0;
  while (ok && written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) written += static_cast<size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok) {
    errno = saved;
    FailErrno("cannot write", tmp);
  }
  if (::rename(tmp.c_str(), file_.c_str()) != 0) FailErrno("cannot rename into", file_);
  const int dir_fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) FailErrno("cannot open the state directory", dir_);
  const bool synced = ::fsync(dir_fd) == 0;
  ::close(dir_fd);
  if (!synced) FailErrno("cannot fsync the state directory", dir_);
}

void SaltStore::Publish(const kernels::VisitorSalts& salts) {
  const uint64_t s = sequence_.load(std::memory_order_relaxed);
  sequence_.store(s + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  day_.store(salts.day, std::memory_order_relaxed);
  today_.store(salts.today, std::memory_order_relaxed);
  yesterday_.store(salts.yesterday, std::memory_order_relaxed);
  sequence_.store(s + 2, std::memory_order_release);
}

kernels::VisitorSalts SaltStore::Snapshot() const {
  for (;;) {
    const uint64_t before = sequence_.load(std::memory_order_acquire);
    if (before & 1) continue;
    kernels::VisitorSalts salts;
    salts.day = day_.load(std::memory_order_relaxed);
    salts.today = today_.load(std::memory_order_relaxed);
    salts.yesterday = yesterday_.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (sequence_.load(std::memory_order_relaxed) == before) return salts;
  }
}

void SaltStore::RotateTo(int64_t day) {
  const kernels::VisitorSalts old = Snapshot();
  if (day <= old.day) return;  // another thread rotated first
  kernels::VisitorSalts salts;
  salts.day = day;
  salts.yesterday = day == old.day + 1 ? old.today : 0;
  salts.today = RandomSalt();
  try {
    WriteFile(salts);
  } catch (const std::runtime_error&) {
    write_failures_.fetch_add(1, std::memory_order_relaxed);
    std::error_code ec;
    std::filesystem::remove(file_, ec);  // it holds a salt that would outlive 48 h
  }
  Publish(salts);
}

kernels::VisitorSalts SaltStore::At(int64_t unix_ms) {
  const int64_t day = kernels::UnixDay(unix_ms);
  if (day > day_.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> lock(mutex_);
    RotateTo(day);
  }
  return Snapshot();
}

kernels::VisitorSalts SaltStore::Current() { return At(clock_()); }

}  // namespace beacon::host
