// The host half of the card decode (kernels/hls/beacon_decode.h): GA v1 beacons of RawBatches
// packed into the card's input layout, and the card's records turned into EventBatch rows with the
// checks that need the host's tables (site registry, host allowlists, user agents, visitor
// key). The other formats of a batch decode on the host's byte kernels, in beacon order, so a
// batch's rows and reject counts equal kernels::DecodeBatch's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/decode.h"
#include "kernels/event_batch.h"
#include "kernels/formats/common.h"
#include "kernels/hls/beacon_decode.h"
#include "kernels/raw_batch.h"

namespace beacon::host {

// Whether the card decodes beacons of this endpoint: GA v1 /collect, /batch, relay hit batches
// (hits) and relay syslog datagrams (framing and the log line's fields).
bool CardDecodes(kernels::Endpoint endpoint);

// A page-aligned array of card words, a whole number of pages long (what XRT maps as a
// user-pointer buffer object).
class CardWords {
 public:
  CardWords() = default;
  explicit CardWords(size_t words);
  kernels::CardWord* data() { return words_.get(); }
  const kernels::CardWord* data() const { return words_.get(); }
  size_t size() const { return size_; }
  size_t bytes() const { return size_ * kernels::kCardWordBytes; }

 private:
  struct Free {
    void operator()(kernels::CardWord* p) const;
  };
  std::unique_ptr<kernels::CardWord[], Free> words_;
  size_t size_ = 0;
};

// One card run's buffers: the input words, the decoded bytes (as large as the input, and the
// run end record) and the records (the two run records, 2 words per /collect beacon, 21 per
// /batch beacon, 1 per syslog datagram at most): half the input's words, and at least what one
// full RawBatch may need.
struct CardBuffers {
  explicit CardBuffers(size_t input_bytes);

  // Appends the card beacons of `raw` to the input. False, appending nothing, when they do not
  // fit; a batch whose card beacons need more than the whole buffer never fits.
  bool Append(const kernels::RawBatch& raw);
  void Clear() {
    in_words = 0;
    record_words = 0;
  }
  size_t capacity_bytes() const { return in.bytes(); }

  CardWords in;
  CardWords decoded;
  CardWords records;
  uint32_t in_words = 0;
  size_t record_words = 0;  // the records the packed beacons may need
  // The id the run's kernel echoes in its run records (FpgaBatcher: the run's id), never 0: the
  // output of an earlier run left in these buffers has another.
  uint64_t run_id = 0;
};

// Reads a run's records in order, beacon after beacon.
class CardResults {
 public:
  // `buffers` holds a finished run; it must outlive the results.
  explicit CardResults(const CardBuffers& buffers);

  // False when the buffers do not hold all of run `buffers.run_id`'s output: a run record, run
  // end record or decoded run end with another id (what an earlier run left: the card did not
  // write, or not all of it came back). Decode then refuses every batch.
  bool fresh() const { return records_end_ != 0; }

  // Decodes `raw` (the next batch appended to the run): its card beacons from the records, the
  // others with ctx's byte kernels, rows appended to `events` and rejects counted in ctx.rejects
  // exactly as kernels::DecodeBatch does. False, adding nothing, when the output is not fresh()
  // or the batch's records are malformed or hold values no run gives (a card fault: a count or
  // queue time out of range): the caller decodes the batch another way.
  bool Decode(const kernels::RawBatch& raw, const kernels::DecodeContext& ctx,
              kernels::EventBatch* events);

 private:
  bool Valid(const kernels::RawBatch& raw) const;
  void DecodeCardBeacon(kernels::Endpoint endpoint, const kernels::Beacon& beacon,
                        const kernels::DecodeContext& ctx, kernels::EventBatch* events);

  const CardBuffers& buffers_;
  std::vector<char> decoded_;
  size_t next_record_ = kernels::kCardFirstRecord;
  size_t records_end_ = 0;  // the run end record's index; 0: not this run's output
};

}  // namespace beacon::host
