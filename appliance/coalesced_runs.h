// Long work done on a thread of its own for whoever asks, one run at a time: the requests made
// while a run is in progress wait for the next run, which begins once it ends and answers every
// request that waited. So each answer comes from a run begun after its request, and however
// many ask at once, at most one run is in progress and one is due. Used for reloads
// (Reloader::Request) and /metrics renders (MetricsRenderer).
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace beacon::app {

template <typename Outcome>
class CoalescedRuns {
 public:
  using Done = std::function<void(const Outcome&)>;

  // Starts the thread, which inherits the caller's signal mask. `run` does the work; a request
  // still waiting when the runs stop gets `stopping`.
  CoalescedRuns(std::function<Outcome()> run, Outcome stopping)
      : run_(std::move(run)),
        stopping_outcome_(std::move(stopping)),
        thread_([this] { Serve(); }) {}
  // Stops the thread once the run in progress, if any, is done; the requests still waiting get
  // the `stopping` outcome.
  ~CoalescedRuns() {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    requested_.notify_one();
    thread_.join();
  }
  CoalescedRuns(const CoalescedRuns&) = delete;
  CoalescedRuns& operator=(const CoalescedRuns&) = delete;

  // Asks for a run and returns at once; `done` (may be empty) is called on the runs' thread with
  // the outcome of a run begun after this request.
  void Request(Done done) {
    {
      const std::lock_guard lock(mutex_);
      if (done) waiting_.push_back(std::move(done));
      due_ = true;
    }
    requested_.notify_one();
  }

 private:
  void Serve() {
    std::unique_lock lock(mutex_);
    for (;;) {
      requested_.wait(lock, [this] { return due_ || stopping_; });
      if (stopping_) break;
      due_ = false;
      const std::vector<Done> served = std::exchange(waiting_, {});
      lock.unlock();
      const Outcome outcome = run_();
      for (const Done& done : served) done(outcome);
      lock.lock();
    }
    const std::vector<Done> left = std::exchange(waiting_, {});
    lock.unlock();
    for (const Done& done : left) done(stopping_outcome_);
  }

  const std::function<Outcome()> run_;
  const Outcome stopping_outcome_;
  std::mutex mutex_;  // guards the three below
  std::condition_variable requested_;
  std::vector<Done> waiting_;
  bool due_ = false;
  bool stopping_ = false;
  std::thread thread_;  // last: started once the rest is built
};

}  // namespace beacon::app
