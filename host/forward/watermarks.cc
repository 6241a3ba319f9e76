// WatermarkStore: the acknowledged prefix of each worker's archive, per shard and table.
#include "host/forward/watermarks.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <string_view>

#include "kernels/archive/crc32c.h"
#include "kernels/archive/format.h"

namespace beacon::host {
namespace {

constexpr char kMagic[4] = {'B', 'W', 'M', 'K'};
constexpr uint32_t kVersion = 1;
constexpr std::string_view kPrefix = "watermark-w";

void Put(uint64_t value, size_t bytes, std::string* out) {
  for (size_t i = 0; i < bytes; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

// Why a file of `shards.size()` shards cannot be read for `now` shards, and what to do.
std::string ShardCountChange(uint32_t worker, const std::vector<ShardWatermark>& shards,
                             size_t now) {
  std::string marks;
  for (const ShardWatermark& s : shards) {
    marks +=
        (marks.empty() ? "" : ", ") + std::to_string(s.site) + "/" + std::to_string(s.breakdown);
  }
  return "worker " + std::to_string(worker) + "'s watermarks were written for " +
         std::to_string(shards.size()) + " shards, not " + std::to_string(now) +
         ", and those shards acknowledged different archive ranges (site/breakdown: " + marks +
         "); a replay with the new shard list would count rows twice or lose them: start with "
         "the old [clickhouse] shards until the node drains (exit 0), then change them";
}

}  // namespace

WatermarkStore::WatermarkStore(FileSystem& fs, std::string dir, size_t shards, int coalesce_ms)
    : fs_(fs), dir_(std::move(dir)), shards_(shards), coalesce_ms_(coalesce_ms) {}

std::string WatermarkStore::FileName(uint32_t worker) {
  return std::string(kPrefix) + std::to_string(worker);
}

std::string WatermarkStore::Encode(const std::vector<ShardWatermark>& shards) {
  std::string out(kMagic, sizeof(kMagic));
  Put(kVersion, 4, &out);
  Put(shards.size(), 4, &out);
  for (const ShardWatermark& shard : shards) {
    Put(shard.site, 8, &out);
    Put(shard.breakdown, 8, &out);
  }
  Put(kernels::Crc32c(out), 4, &out);
  return out;
}

bool WatermarkStore::Decode(std::string_view bytes, std::vector<ShardWatermark>* shards) {
  if (bytes.size() < 16 || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) return false;
  const char* in = bytes.data();
  const auto count = kernels::LoadLittleEndian<uint32_t>(in + 8);
  if (kernels::LoadLittleEndian<uint32_t>(in + 4) != kVersion || count == 0 ||
      bytes.size() != 16 + 16 * uint64_t{count}) {
    return false;
  }
  const size_t crc_at = bytes.size() - 4;
  if (kernels::LoadLittleEndian<uint32_t>(in + crc_at) !=
      kernels::Crc32c(bytes.substr(0, crc_at))) {
    return false;
  }
  shards->resize(count);
  for (uint32_t s = 0; s < count; ++s) {
    (*shards)[s].site = kernels::LoadLittleEndian<uint64_t>(in + 12 + 16 * s);
    (*shards)[s].breakdown = kernels::LoadLittleEndian<uint64_t>(in + 20 + 16 * s);
  }
  return true;
}

int WatermarkStore::Load(std::string* detail) {
  std::vector<DirEntry> entries;
  if (const int error = fs_.List(dir_, &entries); error != 0) return error;
  std::lock_guard lock(mu_);
  for (const DirEntry& entry : entries) {
    std::string_view name = entry.name;
    if (!name.starts_with(kPrefix)) continue;
    name.remove_prefix(kPrefix.size());
    uint32_t worker = 0;
    const auto parsed = std::from_chars(name.data(), name.data() + name.size(), worker);
    if (parsed.ec != std::errc() || parsed.ptr != name.data() + name.size()) continue;
    std::string bytes;
    if (const int error = fs_.ReadFile(dir_ + "/" + entry.name, &bytes); error != 0) return error;
    std::vector<ShardWatermark> shards;
    if (!Decode(bytes, &shards)) return EINVAL;
    if (shards.size() != shards_) {
      const ShardWatermark first = shards.front();
      for (const ShardWatermark& s : shards) {
        if (s.site == first.site && s.breakdown == first.breakdown) continue;
        if (detail != nullptr) *detail = ShardCountChange(worker, shards, shards_);
        return ESTALE;
      }
      shards.assign(shards_, first);
    }
    workers_[worker] = std::move(shards);
  }
  return 0;
}

bool WatermarkStore::Has(uint32_t worker) const {
  std::lock_guard lock(mu_);
  return workers_.count(worker) != 0;
}

std::vector<ShardWatermark> WatermarkStore::Get(uint32_t worker) const {
  std::lock_guard lock(mu_);
  const auto it = workers_.find(worker);
  return it != workers_.end() ? it->second : std::vector<ShardWatermark>(shards_);
}

uint64_t WatermarkStore::ReplayStart(uint32_t worker) const {
  uint64_t least = UINT64_MAX;
  for (const ShardWatermark& s : Get(worker)) least = std::min(least, s.breakdown);
  return least + 1;
}

uint64_t WatermarkStore::Highest(uint32_t worker) const {
  uint64_t most = 0;
  for (const ShardWatermark& s : Get(worker)) most = std::max({most, s.site, s.breakdown});
  return most;
}

std::map<uint32_t, uint64_t> WatermarkStore::RetentionLimits() const {
  std::vector<uint32_t> workers;
  {
    std::lock_guard lock(mu_);
    for (const auto& [worker, shards] : workers_) workers.push_back(worker);
  }
  std::map<uint32_t, uint64_t> marks;
  for (const uint32_t worker : workers) marks[worker] = ReplayStart(worker) - 1;
  return marks;
}

int WatermarkStore::SetAll(uint32_t worker, uint64_t sequence) {
  std::lock_guard lock(mu_);
  workers_[worker].assign(shards_, ShardWatermark{sequence, sequence});
  return Write(worker);
}

int WatermarkStore::Advance(uint32_t worker, size_t shard, uint64_t ShardWatermark::*table,
                            uint64_t sequence) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = workers_.try_emplace(worker, shards_);
  uint64_t& mark = it->second[shard].*table;
  if (sequence <= mark) return 0;
  mark = sequence;
  WriteState& state = writes_state_[worker];
  state.dirty = true;
  if (std::chrono::steady_clock::now() - state.last < std::chrono::milliseconds(coalesce_ms_)) {
    return 0;
  }
  return Write(worker);
}

int WatermarkStore::WriteDirty() {
  std::lock_guard lock(mu_);
  int first_error = 0;
  for (auto& [worker, state] : writes_state_) {
    if (!state.dirty) continue;
    const int error = Write(worker);
    if (first_error == 0) first_error = error;
  }
  return first_error;
}

int WatermarkStore::Write(uint32_t worker) {
  const auto start = std::chrono::steady_clock::now();
  const int error = WriteFileAtomically(fs_, dir_, FileName(worker), Encode(workers_[worker]));
  if (error == 0) writes_state_[worker] = {false, start};
  write_micros_.fetch_add(std::chrono::duration_cast<std::chrono::microseconds>(
                              std::chrono::steady_clock::now() - start)
                              .count(),
                          std::memory_order_relaxed);
  (error == 0 ? writes_ : write_errors_).fetch_add(1, std::memory_order_relaxed);
  return error;
}

}  // namespace beacon::host
