// The forwarder's sending thread: merges offered epochs by key, encodes RowBinary, inserts
// site_minutes_in then page_minutes, and retries a failed batch with capped, fully jittered
// exponential backoff until ClickHouse acknowledges it.
#include "host/forward/forwarder.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <tuple>
#include <utility>
#include <vector>

#include "host/forward/schema.h"

namespace beacon::host {
namespace {

using Clock = std::chrono::steady_clock;

// Heap and inline bytes an epoch holds while pending; what max_pending_bytes bounds.
size_t EstimateBytes(const kernels::EpochRows& rows) {
  size_t bytes = sizeof(kernels::EpochRows);
  for (const auto& row : rows.site_minutes) {
    bytes += sizeof(row) + row.visitors.size() * sizeof(uint64_t);
  }
  for (const auto& row : rows.page_minutes) bytes += sizeof(row) + row.path.size();
  return bytes;
}

std::string Describe(const ClickHouseResult& result) {
  if (!result.error.empty()) return "transport error: " + result.error;
  std::string body = result.body;
  while (!body.empty() && (body.back() == '\n' || body.back() == ' ')) body.pop_back();
  return "HTTP " + std::to_string(result.status) + ": " + body;
}

}  // namespace

// Merged epochs, already encoded; immutable once the first insert of it was tried, so a
// retry after a partial success resends only the table that failed.
struct Forwarder::Batch {
  std::string site_data;  // RowBinary of site_minutes_in
  uint64_t site_rows = 0;
  bool site_done = false;
  std::string page_data;  // RowBinary of page_minutes
  uint64_t page_rows = 0;
  uint64_t events = 0;  // EpochRows::events merged in
  size_t bytes = 0;     // EstimateBytes of the merged epochs
};

namespace {

// Sums (site_id, minute) rows and unions their visitor sets; sums page rows by
// (site_id, minute, path). Output sorted by key.
void MergeEpochs(std::deque<kernels::EpochRows>& epochs, std::string* site_data,
                 uint64_t* site_rows, std::string* page_data, uint64_t* page_rows) {
  std::map<std::pair<uint32_t, uint32_t>, kernels::SiteMinuteRow> sites;
  std::map<std::tuple<uint32_t, uint32_t, std::string>, uint64_t> pages;
  for (auto& epoch : epochs) {
    for (auto& row : epoch.site_minutes) {
      auto [it, inserted] = sites.try_emplace({row.site_id, row.minute});
      kernels::SiteMinuteRow& merged = it->second;
      if (inserted) {
        merged = std::move(row);
        continue;
      }
      merged.pageviews += row.pageviews;
      merged.events += row.events;
      merged.visitors.insert(merged.visitors.end(), row.visitors.begin(), row.visitors.end());
    }
    for (auto& row : epoch.page_minutes) {
      pages[{row.site_id, row.minute, std::move(row.path)}] += row.pageviews;
    }
  }
  for (auto& [key, row] : sites) {
    std::sort(row.visitors.begin(), row.visitors.end());
    row.visitors.erase(std::unique(row.visitors.begin(), row.visitors.end()), row.visitors.end());
    AppendSiteMinuteRowBinary(row, site_data);
  }
  *site_rows = sites.size();
  kernels::PageMinuteRow page;
  for (auto& [key, pageviews] : pages) {
    page.site_id = std::get<0>(key);
    page.minute = std::get<1>(key);
    page.path = std::get<2>(key);
    page.pageviews = pageviews;
    AppendPageMinuteRowBinary(page, page_data);
  }
  *page_rows = pages.size();
}

}  // namespace

Forwarder::Forwarder(ForwarderConfig config) : config_(std::move(config)) {}

Forwarder::~Forwarder() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Forwarder::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

bool Forwarder::Offer(kernels::EpochRows& rows) {
  size_t bytes = EstimateBytes(rows);
  {
    std::lock_guard lock(mu_);
    // Only Offer adds, under mu_, while the thread may subtract concurrently: the check can
    // only be conservative.
    // An epoch larger than the whole bound is still taken when nothing is pending, or a
    // worker holding it would shed forever; epoch_max_events bounds how large that can be.
    const size_t pending = pending_bytes_.load(std::memory_order_relaxed);
    if (pending > 0 && pending + bytes > config_.max_pending_bytes) {
      epochs_refused_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    pending_bytes_.fetch_add(bytes, std::memory_order_relaxed);
    epochs_offered_.fetch_add(1, std::memory_order_relaxed);
    offered_.push_back(std::move(rows));
  }
  return true;
}

bool Forwarder::HasRoom() const {
  return pending_bytes_.load(std::memory_order_relaxed) < config_.max_pending_bytes;
}

bool Forwarder::Drain(std::chrono::milliseconds deadline) {
  {
    std::lock_guard lock(mu_);
    draining_ = true;
    drain_deadline_ = Clock::now() + deadline;
    drained_ = false;
  }
  wake_.notify_all();
  // A Drain that timed out earlier left the thread ended; a new one resumes the batch.
  Start();
  thread_.join();
  std::lock_guard lock(mu_);
  return drained_;
}

bool Forwarder::Sleep(Clock::time_point until) {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    Clock::time_point limit = draining_ ? std::min(until, drain_deadline_) : until;
    if (Clock::now() >= limit) return true;
    wake_.wait_until(lock, limit);
  }
  return false;
}

void Forwarder::Run() {
  ClickHouseClient client(config_.clickhouse);
  std::mt19937_64 jitter(std::random_device{}());
  const auto interval = std::chrono::milliseconds(config_.flush_interval_ms);
  Clock::time_point next_flush = Clock::now() + interval;
  int attempt = 0;           // failed attempts in the current streak
  std::string last_failure;  // the failure last written to stderr in this streak
  while (true) {
    if (batch_ == nullptr) {
      std::deque<kernels::EpochRows> epochs;
      {
        std::unique_lock lock(mu_);
        wake_.wait_until(lock, next_flush, [this] { return stopping_ || draining_; });
        if (stopping_) return;
        if (Clock::now() >= next_flush) next_flush = Clock::now() + interval;
        epochs.swap(offered_);
        if (epochs.empty() && draining_) {
          drained_ = true;
          return;
        }
      }
      if (epochs.empty()) continue;
      batch_ = std::make_unique<Batch>();
      for (const auto& epoch : epochs) {
        batch_->events += epoch.events;
        batch_->bytes += EstimateBytes(epoch);
      }
      MergeEpochs(epochs, &batch_->site_data, &batch_->site_rows, &batch_->page_data,
                  &batch_->page_rows);
    }
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      if (draining_ && Clock::now() >= drain_deadline_) return;
    }
    std::string failure;
    if (Send(client, *batch_, &failure)) {
      acked_events_.fetch_add(batch_->events, std::memory_order_relaxed);
      pending_bytes_.fetch_sub(batch_->bytes, std::memory_order_relaxed);
      batch_.reset();
      if (attempt > 0) {
        std::fprintf(stderr, "forwarder: ClickHouse inserts recovered after %d failed attempts\n",
                     attempt);
      }
      attempt = 0;
      last_failure.clear();
      continue;
    }
    // Logged once per streak, and again only when the failure changes (e.g. from "connection
    // refused" to a ClickHouse error), not per retry.
    if (failure != last_failure) {
      std::fprintf(stderr, "forwarder: %s; keeping the batch, retrying with backoff up to %d ms\n",
                   failure.c_str(), config_.retry_max_ms);
      last_failure = std::move(failure);
    }
    // Full jitter: a uniform wait in [0, min(max, initial * 2^attempt)].
    int64_t cap = config_.retry_initial_ms;
    for (int i = 0; i < attempt && cap < config_.retry_max_ms; ++i) cap *= 2;
    cap = std::min<int64_t>(cap, config_.retry_max_ms);
    ++attempt;
    auto backoff = std::chrono::milliseconds(
        std::uniform_int_distribution<int64_t>(0, std::max<int64_t>(cap, 0))(jitter));
    if (!Sleep(Clock::now() + backoff)) return;
    retries_.fetch_add(1, std::memory_order_relaxed);
  }
}

bool Forwarder::Send(ClickHouseClient& client, Batch& batch, std::string* failure) {
  auto insert = [&](std::string_view table, const std::string& data) {
    auto start = Clock::now();
    ClickHouseResult result = client.InsertRowBinary(table, data);
    if (result.ok()) {
      inserts_ok_.fetch_add(1, std::memory_order_relaxed);
      last_insert_us_.store(
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count(),
          std::memory_order_relaxed);
      return true;
    }
    inserts_failed_.fetch_add(1, std::memory_order_relaxed);
    *failure = "INSERT INTO " + client.endpoint().database + "." + std::string(table) + " at " +
               client.endpoint().url + " failed (" + Describe(result) + ")";
    return false;
  };
  if (!batch.site_done && batch.site_rows > 0) {
    if (!insert(kSiteMinutesInTable, batch.site_data)) return false;
    site_rows_sent_.fetch_add(batch.site_rows, std::memory_order_relaxed);
  }
  batch.site_done = true;
  if (batch.page_rows > 0) {
    if (!insert(kPageMinutesTable, batch.page_data)) return false;
    page_rows_sent_.fetch_add(batch.page_rows, std::memory_order_relaxed);
  }
  return true;
}

void Forwarder::RegisterMetrics(MetricsRegistry* registry, std::string prefix) const {
  registry->Add([this, prefix = std::move(prefix)](MetricsWriter& out) {
    auto load = [](const auto& counter) { return counter.load(std::memory_order_relaxed); };
    out.Counter(prefix + "_epochs_offered_total", "Epochs taken by the forwarder.", {},
                load(epochs_offered_));
    out.Counter(prefix + "_epochs_refused_total",
                "Epochs refused because pending data was at its bound.", {}, load(epochs_refused_));
    out.Counter(prefix + "_rows_sent_total", "Rows acknowledged by ClickHouse, per table.",
                {{"table", "site_minutes"}}, load(site_rows_sent_));
    out.Counter(prefix + "_rows_sent_total", "Rows acknowledged by ClickHouse, per table.",
                {{"table", "page_minutes"}}, load(page_rows_sent_));
    out.Counter(prefix + "_inserts_total", "INSERT requests sent to ClickHouse, by result.",
                {{"result", "ok"}}, load(inserts_ok_));
    out.Counter(prefix + "_inserts_total", "INSERT requests sent to ClickHouse, by result.",
                {{"result", "failed"}}, load(inserts_failed_));
    out.Counter(prefix + "_retries_total", "Batch re-sends after a failed insert.", {},
                load(retries_));
    out.Gauge(prefix + "_pending_bytes", "Estimated bytes offered and not yet acknowledged.", {},
              static_cast<double>(load(pending_bytes_)));
    out.Gauge(prefix + "_last_insert_seconds", "Duration of the last successful INSERT.", {},
              static_cast<double>(load(last_insert_us_)) / 1e6);
    out.Counter(prefix + "_acknowledged_events_total",
                "Accepted events whose aggregates ClickHouse acknowledged.", {},
                load(acked_events_));
  });
}

}  // namespace beacon::host
