// The HLS types the kernels of this folder are written against. Under Vitis HLS (synthesis, or
// C-simulation with Vitis' headers on the include path) these are Xilinx's <ap_int.h> and
// <hls_stream.h>; with Xilinx's C-simulation <ap_int.h> alone, its ap_uint and the stream below;
// otherwise both come from below. The subset below is the kernels' coding contract (README.md):
// kernel code that compiles against it compiles against Xilinx's headers too.
#pragma once

#if defined(__SYNTHESIS__) || __has_include(<hls_stream.h>)
#include <ap_int.h>
#include <hls_stream.h>
#define BEACON_HLS_VENDOR_AP_INT 1
#define BEACON_HLS_VENDOR_STREAM 1
#elif __has_include(<ap_int.h>)
#include <ap_int.h>
#define BEACON_HLS_VENDOR_AP_INT 1
#endif

#ifndef BEACON_HLS_VENDOR_AP_INT
#include <cstdint>
#include <cstdio>
#include <cstdlib>

// ap_uint<W> as the kernels use it: a W-bit bus word (W <= 1024). Constructed zero or from a
// 64-bit value; fields read and written with range(hi, lo) of at most 64 bits; compared with
// == and !=. Arithmetic is done on <cstdint> types, never on ap_uint.
template <int W>
class ap_uint {
  static_assert(W > 0 && W <= 1024, "ap_uint width out of the supported range");
  static constexpr int kWords = (W + 63) / 64;

 public:
  class RangeRef {
   public:
    RangeRef(ap_uint* word, int hi, int lo) : word_(word), hi_(hi), lo_(lo) {}
    RangeRef& operator=(uint64_t value) {
      word_->Set(hi_, lo_, value);
      return *this;
    }
    uint64_t to_uint64() const { return word_->Get(hi_, lo_); }
    operator uint64_t() const { return to_uint64(); }

   private:
    ap_uint* word_;
    int hi_;
    int lo_;
  };

  ap_uint() = default;
  ap_uint(uint64_t value) { words_[0] = value; }  // NOLINT: implicit, as Xilinx's ap_uint

  // A field of a const word: what a read of range() gives.
  struct ConstRange {
    uint64_t value;
    uint64_t to_uint64() const { return value; }
    operator uint64_t() const { return value; }
  };

  RangeRef range(int hi, int lo) { return RangeRef(this, hi, lo); }
  ConstRange range(int hi, int lo) const { return {Get(hi, lo)}; }
  uint64_t to_uint64() const { return words_[0]; }

  friend bool operator==(const ap_uint& a, const ap_uint& b) {
    for (int i = 0; i < kWords; ++i) {
      if (a.words_[i] != b.words_[i]) return false;
    }
    return true;
  }
  friend bool operator!=(const ap_uint& a, const ap_uint& b) { return !(a == b); }

 private:
  static void Check(int hi, int lo) {
    if (lo < 0 || hi < lo || hi >= W || hi - lo >= 64) {
      std::fprintf(stderr, "ap_uint<%d>::range(%d, %d): outside the word or wider than 64 bits\n",
                   W, hi, lo);
      std::abort();
    }
  }
  static uint64_t Mask(int bits) { return bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1; }

  uint64_t Get(int hi, int lo) const {
    Check(hi, lo);
    const int bits = hi - lo + 1;
    const int w = lo / 64;
    const int shift = lo % 64;
    uint64_t value = words_[w] >> shift;
    if (shift != 0 && shift + bits > 64) value |= words_[w + 1] << (64 - shift);
    return value & Mask(bits);
  }
  void Set(int hi, int lo, uint64_t value) {
    Check(hi, lo);
    const int bits = hi - lo + 1;
    const int w = lo / 64;
    const int shift = lo % 64;
    value &= Mask(bits);
    words_[w] = (words_[w] & ~(Mask(bits) << shift)) | (value << shift);
    if (shift != 0 && shift + bits > 64) {
      const int high_bits = shift + bits - 64;
      words_[w + 1] = (words_[w + 1] & ~Mask(high_bits)) | (value >> (64 - shift));
    }
  }

  uint64_t words_[kWords] = {};
};
#endif  // !BEACON_HLS_VENDOR_AP_INT

#ifndef BEACON_HLS_VENDOR_STREAM
#include <cstdio>
#include <cstdlib>
#include <deque>

namespace hls {

// hls::stream<T> for C-simulation: an unbounded FIFO (DATAFLOW stages run one after another,
// as in Vitis' C-simulation). Reading an empty stream is a kernel bug: it aborts with the
// stream's name, so a test fails instead of reading a default value.
template <typename T>
class stream {
 public:
  stream() : name_("hls::stream") {}
  explicit stream(const char* name) : name_(name) {}
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;

  void write(const T& value) { fifo_.push_back(value); }
  T read() {
    if (fifo_.empty()) {
      std::fprintf(stderr, "hls::stream '%s': read while empty (a DATAFLOW stage under-ran)\n",
                   name_);
      std::abort();
    }
    T value = fifo_.front();
    fifo_.pop_front();
    return value;
  }
  bool empty() const { return fifo_.empty(); }
  size_t size() const { return fifo_.size(); }

 private:
  const char* name_;
  std::deque<T> fifo_;
};

}  // namespace hls
#endif  // !BEACON_HLS_VENDOR_STREAM
