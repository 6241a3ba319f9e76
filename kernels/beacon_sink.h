// The ingress contract: where every ingress (the HTTP server, the kernel-socket UDP relay, the
// DPDK data plane and its passive mirror) hands its beacons, a RawBatch at a time, and the
// raw batch each ingress worker fills in front of its sink.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "kernels/raw_batch.h"

namespace beacon::kernels {

// How far a sink's beacons are durable (its write-ahead log): a beacon whose sequence is in
// (lost_after, lost_through] was lost to the last failure and never will be; any other one is
// durable once its sequence is <= durable.
struct Durability {
  uint64_t durable = 0;
  uint64_t lost_after = 0;
  uint64_t lost_through = 0;
  bool Lost(uint64_t sequence) const { return sequence > lost_after && sequence <= lost_through; }
};

// What became of one beacon of a batch handed to a sink.
enum class BeaconStatus : uint8_t {
  kTaken,       // taken in (acknowledged once durable when the sink DefersAnswers)
  kRefused,     // not taken, the sink cannot now (archive failed, record too large): 503
  kOverBudget,  // not taken, its site is over its rate budget: 429 with Retry-After
};

// Where one ingress worker's beacons go (beacond: that worker's pipeline). Every call is made
// on that worker's thread or lcore.
class BeaconSink {
 public:
  virtual ~BeaconSink() = default;
  // Whether beacons are taken in. Asked once per loop round, never per beacon. While false the
  // ingress holds them off: the HTTP server answers beacon requests 503 with Retry-After, the
  // UDP relay leaves datagrams in the socket buffer, the DPDK data plane does not poll its
  // queues (the NIC counts what it cannot hold as missed).
  virtual bool Admitting() = 0;
  // Takes a non-empty batch (full, or at the end of a loop round). The ingress clears the batch
  // after the call returns.
  virtual void OnBatch(RawBatch& batch) = 0;
  // Called at least every tick_ms of the ingress's config with the wall clock (unix ms), and
  // once more after the last OnBatch when the ingress stops, for epoch closing.
  virtual void OnTick(int64_t now_ms) = 0;

  // Whether OnBatch may keep the batch's payloads past its return (a card's batcher swaps the
  // batch out and decodes it later). Only when not may an ingress add payloads in place
  // (RawBatch::AddInPlace) from receive buffers it reuses once OnBatch returns.
  virtual bool KeepsBatches() const { return true; }

  // Durable acknowledgement (a sink that archives beacons before it takes them in). By
  // default there is none: answers go at once.
  // Whether an ingress that answers (HTTP) must hold a beacon's 2xx until it is durable.
  virtual bool DefersAnswers() const { return false; }
  // After OnBatch: each beacon's sequence, in batch order; 0 for one not taken.
  virtual std::span<const uint64_t> batch_sequences() const { return {}; }
  // Whether OnBatch may refuse beacons: an ingress that answers then holds each answer until
  // its beacon's batch is handed on, and answers by batch_status.
  virtual bool RefusesBeacons() const { return false; }
  // After OnBatch: each beacon's status, in batch order; empty when every one was taken.
  virtual std::span<const BeaconStatus> batch_status() const { return {}; }
  // Readable when durability may have moved; -1: none. The ingress then calls PollDurability.
  virtual int durability_fd() const { return -1; }
  // Never blocks.
  virtual Durability PollDurability() { return {}; }
};

// A UDP port that carries beacons, and the payload format sent to it.
struct BeaconPort {
  uint16_t port = 0;  // kernel-socket relay: 0 binds an ephemeral port
  Endpoint endpoint = Endpoint::kUdpHitBatch;
};

// One ingress worker's raw batch in front of its sink: beacons are added until the batch is
// full, then the batch is handed on.
class SinkBatch {
 public:
  explicit SinkBatch(BeaconSink* sink) : sink_(sink) {}

  // Adds one beacon (the arguments of RawBatch::Add), handing the batch on first when the
  // beacon does not fit. Returns false, dropping the beacon, when it is larger than an empty
  // batch.
  bool Add(Endpoint endpoint, IngressKind ingress, std::string_view payload,
           std::string_view user_agent, const IpAddress& source, int64_t receive_time_ms,
           std::string_view query = {}, uint16_t country = 0) {
    if (batch_.Add(endpoint, ingress, payload, user_agent, source, receive_time_ms, query,
                   country)) {
      return true;
    }
    Deliver();
    return batch_.Add(endpoint, ingress, payload, user_agent, source, receive_time_ms, query,
                      country);
  }

  // Hands a non-empty batch to the sink and clears it.
  void Deliver() {
    if (batch_.empty()) return;
    sink_->OnBatch(batch_);
    batch_.Clear();
  }

  BeaconSink* sink() const { return sink_; }
  RawBatch* batch() { return &batch_; }

 private:
  BeaconSink* sink_;
  RawBatch batch_;
};

}  // namespace beacon::kernels
