// Every Highway target this CPU runs, against the scalar reference, on generated GA payloads,
// adversarial bytes (escapes and bad UTF-8 at every block offset) and seeded random bytes.
#include "kernels/simd/byte_kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/bytes/hash.h"
#include "kernels/bytes/internet_sum.h"
#include "kernels/bytes/url_encoding.h"
#include "kernels/bytes/utf8.h"

namespace beacon::kernels {

// Names the target in test output instead of its bytes.
void PrintTo(const SimdTarget& target, std::ostream* os) { *os << target.name; }

namespace {

constexpr AsciiSet kUrlDelimiters("?#/");
constexpr AsciiSet kWithNul(std::string_view("\0;\x7f", 3));

// A byte string copied to an exactly sized heap block at `offset` bytes from an allocation
// start: reading past its end is a heap overflow that ASan reports.
class Exact {
 public:
  Exact(std::string_view bytes, size_t offset)
      : storage_(new char[offset + bytes.size()]),
        data_(storage_.get() + offset),
        size_(bytes.size()) {
    std::copy(bytes.begin(), bytes.end(), data_);
  }
  std::string_view view() const { return {data_, size_}; }

 private:
  std::unique_ptr<char[]> storage_;
  char* data_;
  size_t size_;
};

// A FormSeparators array of `capacity` entries followed by a guard entry that no table writes.
struct GuardedSeparators {
  static constexpr uint32_t kGuard = 0x5A5A5A5A;

  explicit GuardedSeparators(size_t capacity) : positions(capacity + 1, kGuard) {}
  FormSeparators separators() { return {positions.data(), positions.size() - 1}; }
  std::vector<uint32_t> First(size_t n) const {
    return {positions.begin(), positions.begin() + static_cast<ptrdiff_t>(n)};
  }

  std::vector<uint32_t> positions;
};

struct Checker {
  ByteKernels simd;
  size_t cases = 0;

  // Every kernel of `simd` against the reference on `bytes`, placed at `offset`.
  void Check(std::string_view bytes, size_t offset = 0) {
    ++cases;
    const Exact in(bytes, offset);
    const std::string_view v = in.view();
    SCOPED_TRACE(testing::Message() << "target " << simd.target << ", offset " << offset
                                    << ", input " << testing::PrintToString(std::string(bytes)));

    ASSERT_EQ(simd.is_valid_utf8(v), IsValidUtf8(v));

    const std::unique_ptr<char[]> expected(new char[v.size() + 1]);
    const std::unique_ptr<char[]> actual(new char[v.size() + 1]);
    size_t expected_size = 0;
    size_t actual_size = 0;
    const bool expected_ok = FormDecode(v, expected.get(), &expected_size);
    ASSERT_EQ(simd.form_decode(v, actual.get(), &actual_size), expected_ok);
    if (expected_ok) {
      ASSERT_EQ(std::string_view(actual.get(), actual_size),
                std::string_view(expected.get(), expected_size));
    }

    const ByteKernels ref = ScalarByteKernels();
    // Every separator, none, and capacities that end inside a block's separators.
    for (const size_t capacity : {v.size() + 1, size_t{0}, size_t{3}, size_t{17}, size_t{40}}) {
      GuardedSeparators expected_separators(capacity);
      GuardedSeparators actual_separators(capacity);
      const FormScan expected_scan =
          ref.split_form(v, expected.get(), expected_separators.separators());
      const FormScan actual_scan = simd.split_form(v, actual.get(), actual_separators.separators());
      ASSERT_EQ(actual_scan, expected_scan);
      ASSERT_EQ(expected_scan.escapes_ok, expected_ok);
      ASSERT_EQ(actual_separators.positions.back(), GuardedSeparators::kGuard);
      if (!expected_ok) continue;
      ASSERT_EQ(std::string_view(actual.get(), actual_scan.decoded_size),
                std::string_view(expected.get(), expected_scan.decoded_size));
      ASSERT_EQ(expected_scan.decoded_size, expected_size);  // FormDecode of the whole hit
      ASSERT_EQ(expected_scan.separators, static_cast<size_t>(std::count(v.begin(), v.end(), '&') +
                                                              std::count(v.begin(), v.end(), '=')));
      const size_t stored = std::min(expected_scan.separators, capacity);
      ASSERT_EQ(actual_separators.First(stored), expected_separators.First(stored));
    }

    for (const char c : {'&', '=', '%', '\n', '\0', '\xC3', '\xFF'}) {
      ASSERT_EQ(simd.find_byte(v.data(), v.size(), c), ref.find_byte(v.data(), v.size(), c))
          << "byte " << static_cast<int>(static_cast<uint8_t>(c));
    }
    const auto* unsigned_bytes = reinterpret_cast<const uint8_t*>(v.data());
    ASSERT_EQ(simd.internet_sum(unsigned_bytes, v.size()), InternetSum(unsigned_bytes, v.size()));
    for (const AsciiSet* set : {&kFormStructurals, &kUrlDelimiters, &kWithNul}) {
      ASSERT_EQ(simd.find_any_of(v.data(), v.size(), *set),
                ref.find_any_of(v.data(), v.size(), *set));
      const size_t words = (v.size() + 63) / 64;
      std::vector<uint64_t> expected_bits(words + 1, 0x5A5A5A5A5A5A5A5A);
      std::vector<uint64_t> actual_bits(words + 1, 0x5A5A5A5A5A5A5A5A);
      ref.classify(v.data(), v.size(), *set, expected_bits.data());
      simd.classify(v.data(), v.size(), *set, actual_bits.data());
      ASSERT_EQ(actual_bits, expected_bits);  // including the untouched word after the last
    }
  }
};

class ByteKernelsTest : public testing::TestWithParam<SimdTarget> {
 protected:
  void SetUp() override {
    ForceSimdTargetForTest(GetParam().bits);
    checker_.simd = SimdByteKernels();
    ASSERT_STREQ(checker_.simd.target, GetParam().name);
    ASSERT_STREQ(checker_.simd.backend, "simd");
  }
  void TearDown() override { ForceSimdTargetForTest(0); }

  Checker checker_;
};

std::string Filler(size_t n, char c = 'a') { return std::string(n, c); }

// ---------------------------------------------------------------- generated GA payloads

class GaHitGenerator {
 public:
  explicit GaHitGenerator(uint32_t seed) : rng_(seed) {}

  std::string Hit() {
    std::string hit = "v=1&_v=j101&a=" + Number(9) + "&t=" + Pick(kHitTypes) + "&_s=" + Number(2) +
                      "&dl=" + Url() + "&ul=en-us&de=UTF-8&dt=" + Pick(kTitles) +
                      "&sd=24-bit&sr=1920x1080&vp=1903x937&je=0&_u=" +
                      "QACAAEABAAAAAC~&jid=&gjid=&cid=" + Number(10) + "." + Number(10) +
                      "&tid=UA-" + Number(6) + "-1&_gid=" + Number(9) + "." + Number(10) +
                      "&z=" + Number(10);
    if (Chance(3)) hit += "&ec=" + Pick(kWords) + "&ea=" + Pick(kWords) + "+" + Pick(kWords);
    if (Chance(4)) hit += "&dr=" + Url();
    if (Chance(5)) hit += "&cd1=" + Pick(kTitles);
    return hit;
  }

  // A /batch body: hits separated by LF or CRLF.
  std::string Batch() {
    std::string body;
    const int hits = 1 + static_cast<int>(rng_() % 20);
    for (int i = 0; i < hits; ++i) body += Hit() + (Chance(2) ? "\r\n" : "\n");
    return body;
  }

 private:
  static constexpr std::string_view kHitTypes[] = {"pageview", "event", "screenview", "timing"};
  static constexpr std::string_view kTitles[] = {
      "Laufschuhe%20%E2%80%93%20Shop", "Best+trail+running+shoes+of+2023+%7C+Blog",
      "Caf%C3%A9%20cr%C3%A8me%20%E2%80%93%20Recettes", "%F0%9F%8E%89%20Sale%21",
      "%E6%97%A5%E6%9C%AC%E8%AA%9E%E3%81%AE%E3%83%9A%E3%83%BC%E3%82%B8"};
  static constexpr std::string_view kWords[] = {"video", "play", "download", "pdf", "signup"};

  bool Chance(uint32_t one_in) { return rng_() % one_in == 0; }
  std::string Number(int digits) {
    std::string s;
    for (int i = 0; i < digits; ++i) s += static_cast<char>('0' + rng_() % 10);
    return s;
  }
  std::string Pick(const std::string_view* options, size_t count) {
    return std::string(options[rng_() % count]);
  }
  template <size_t N>
  std::string Pick(const std::string_view (&options)[N]) {
    return Pick(options, N);
  }
  std::string Url() {
    std::string url = "https%3A%2F%2Fwww.example" + Number(2) + ".com%2F";
    const int segments = static_cast<int>(rng_() % 4);
    for (int i = 0; i < segments; ++i) url += Pick(kWords) + "%2F";
    if (Chance(3)) url += "%3Futm_source%3Dnewsletter%26utm_medium%3Demail";
    return url;
  }

  std::mt19937 rng_;
};

// Splits a hit like the GA decoder does: pairs on '&', key and value on the first '='.
std::vector<std::string_view> Components(std::string_view hit) {
  std::vector<std::string_view> parts;
  while (!hit.empty()) {
    const size_t amp = std::min(hit.find('&'), hit.size());
    const std::string_view pair = hit.substr(0, amp);
    const size_t eq = pair.find('=');
    parts.push_back(pair.substr(0, eq));
    if (eq != std::string_view::npos) parts.push_back(pair.substr(eq + 1));
    hit.remove_prefix(std::min(amp + 1, hit.size()));
  }
  return parts;
}

TEST_P(ByteKernelsTest, GeneratedGaPayloads) {
  GaHitGenerator gen(20261128);
  for (int i = 0; i < 300; ++i) {
    const std::string hit = gen.Hit();
    checker_.Check(hit, i % 8);
    for (const std::string_view part : Components(hit)) checker_.Check(part, i % 3);
    const std::string body = gen.Batch();
    checker_.Check(body, i % 5);
    // Decoded titles are UTF-8 text with multi-byte sequences across block boundaries.
    std::string decoded(hit.size(), '\0');
    size_t size = 0;
    ASSERT_TRUE(FormDecode(hit, decoded.data(), &size));
    decoded.resize(size);
    ASSERT_TRUE(IsValidUtf8(decoded));
    checker_.Check(decoded, i % 7);
  }
}

// A generated hit exercises the values the decoders see: check the kernels find them.
TEST_P(ByteKernelsTest, GeneratedHitHasExpectedStructure) {
  const std::string hit = GaHitGenerator(7).Hit();
  EXPECT_EQ(checker_.simd.find_byte(hit.data(), hit.size(), '&'), hit.find('&'));
  std::vector<uint64_t> bits((hit.size() + 63) / 64);
  checker_.simd.classify(hit.data(), hit.size(), kFormStructurals, bits.data());
  size_t structurals = 0;
  for (const uint64_t word : bits) structurals += static_cast<size_t>(__builtin_popcountll(word));
  const size_t expected = static_cast<size_t>(std::count_if(hit.begin(), hit.end(), [](char c) {
    return c == '&' || c == '=' || c == '%' || c == '+' || c == '\n';
  }));
  EXPECT_EQ(structurals, expected);
  EXPECT_GT(structurals, 40u);
}

// ---------------------------------------------------------------- adversarial input

TEST_P(ByteKernelsTest, EveryByteValueAtEveryPosition) {
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  for (size_t offset = 0; offset < 8; ++offset) checker_.Check(all, offset);
  for (int b = 0; b < 256; ++b) {
    for (size_t pos = 0; pos < 70; ++pos) {
      std::string s = Filler(70);
      s[pos] = static_cast<char>(b);
      checker_.Check(s, pos % 4);
    }
  }
}

TEST_P(ByteKernelsTest, EscapesAtEveryBlockOffset) {
  for (const size_t len :
       {1, 2, 3, 15, 16, 17, 18, 31, 32, 33, 34, 63, 64, 65, 66, 127, 128, 129, 130, 200}) {
    for (size_t pos = 0; pos < len; ++pos) {
      for (const std::string_view escape :
           {"%41", "%c3%A9", "%", "%4", "%zz", "%4g", "%g4", "%%41", "+", "%2B", "%00", "%FF"}) {
        std::string s = Filler(len);
        s.replace(pos, std::min(escape.size(), len - pos), escape.substr(0, len - pos));
        checker_.Check(s, pos % 8);
        std::string dense = Filler(len, '+');  // escapes among other escapes and '+'
        dense.replace(pos, std::min(escape.size(), len - pos), escape.substr(0, len - pos));
        checker_.Check(dense);
      }
    }
  }
  // A run of escapes, cut at every length: the last escape is truncated at the very end.
  std::string run;
  for (int i = 0; i < 60; ++i) run += "%E2%82%AC";
  for (size_t len = 0; len <= run.size(); ++len) checker_.Check(run.substr(0, len), len % 8);
}

constexpr std::string_view kInvalidSequences[] = {"\xC0\x80",
                                                  "\xC1\xBF",
                                                  "\xE0\x80\x80",
                                                  "\xE0\x9F\xBF",
                                                  "\xED\xA0\x80",
                                                  "\xED\xBF\xBF",
                                                  "\xF0\x80\x80\x80",
                                                  "\xF0\x8F\xBF\xBF",
                                                  "\xF4\x90\x80\x80",
                                                  "\xF5\x80\x80\x80",
                                                  "\xF7\xBF\xBF\xBF",
                                                  "\xF8\x88\x80\x80\x80",
                                                  "\xFF",
                                                  "\xFE",
                                                  "\x80",
                                                  "\xBF",
                                                  "\xC3",
                                                  "\xE2\x82",
                                                  "\xF0\x9F\x98",
                                                  "\xC3\xC3\xA9",
                                                  "\xE2\x28\xA1",
                                                  "\xF0\x9F\x28\x80",
                                                  "\xC3\xA9\xA9",
                                                  "\xE2\x82\xAC\x80"};
constexpr std::string_view kValidSequences[] = {
    "\xC2\x80",         "\xC3\xA9",         "\xDF\xBF",         "\xE0\xA0\x80",
    "\xE2\x82\xAC",     "\xED\x9F\xBF",     "\xEE\x80\x80",     "\xEF\xBF\xBF",
    "\xF0\x90\x80\x80", "\xF0\x9F\x98\x80", "\xF4\x8F\xBF\xBF", std::string_view("\0", 1)};

TEST_P(ByteKernelsTest, Utf8SequencesAtEveryOffset) {
  std::vector<std::string_view> sequences(std::begin(kInvalidSequences),
                                          std::end(kInvalidSequences));
  sequences.insert(sequences.end(), std::begin(kValidSequences), std::end(kValidSequences));
  for (const std::string_view seq : sequences) {
    for (size_t pos = 0; pos < 140; ++pos) {
      std::string ascii = Filler(pos) + std::string(seq) + Filler(pos % 70);
      checker_.Check(ascii, pos % 8);
      std::string at_end = Filler(pos) + std::string(seq);  // truncated forms end the input
      checker_.Check(at_end);
      std::string text;  // among valid multi-byte characters
      while (text.size() < pos) text += "\xC3\xA9\xE2\x82\xAC";
      text.resize(pos);
      checker_.Check(text + std::string(seq) + "\xF0\x9F\x98\x80" + Filler(pos % 37));
    }
  }
}

TEST_P(ByteKernelsTest, AllByteTriplesAfterLeadBytesAndAllPairs) {
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      const char pair[2] = {static_cast<char>(a), static_cast<char>(b)};
      checker_.Check(Filler(14) + std::string(pair, 2) + Filler(a % 20));  // across 16 bytes
      checker_.Check(Filler(a % 64) + std::string(pair, 2));               // at the end
    }
  }
  for (int lead = 0xE0; lead <= 0xF4; ++lead) {
    for (int second = 0x70; second <= 0xC0; ++second) {
      for (const int third : {0x41, 0x80, 0xBF, 0xC0}) {
        const char seq[4] = {static_cast<char>(lead), static_cast<char>(second),
                             static_cast<char>(third), '\x80'};
        checker_.Check(Filler(30) + std::string(seq, 4));
        checker_.Check(Filler(61) + std::string(seq, 3));
      }
    }
  }
}

TEST_P(ByteKernelsTest, EveryLengthAndUnalignedStart) {
  GaHitGenerator gen(99);
  std::string source;
  while (source.size() < 5000) source += gen.Hit() + "&dt=%C3%A9t%C3%A9+%E2%82%AC&";
  std::string text;
  while (text.size() < 5000) text += "na\xC3\xAFve caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 ";
  for (size_t len = 0; len <= 300; ++len) {
    for (size_t offset = 0; offset < 4; ++offset) {
      checker_.Check(std::string_view(source).substr(offset * 7, len), offset);
      checker_.Check(std::string_view(text).substr(offset, len), 3 - offset);
    }
  }
  for (size_t len = 4080; len <= 4112; ++len) {
    checker_.Check(std::string_view(source).substr(0, len), len % 8);
    checker_.Check(std::string_view(text).substr(0, len), len % 5);
    std::string bad(std::string_view(text).substr(0, len));
    bad[len - 1 - len % 61] = '\xFF';
    checker_.Check(bad);
  }
}

// ---------------------------------------------------------------- random bytes

TEST_P(ByteKernelsTest, SeededRandomBytes) {
  std::mt19937 rng(0xB3AC0);
  constexpr std::string_view kFormAlphabet = "%%%++&&==\n0123456789abcdefABCDEFgxyz";
  for (int i = 0; i < 20000; ++i) {
    const size_t len = rng() % (i % 10 == 0 ? 4200 : 300);
    std::string s(len, '\0');
    const int kind = i % 3;
    for (char& c : s) {
      const uint32_t r = rng();
      if (kind == 0) {
        c = static_cast<char>(r);
      } else if (kind == 1) {
        c = kFormAlphabet[r % kFormAlphabet.size()];
      } else {  // mostly valid UTF-8 pieces with an occasional stray byte
        c = static_cast<char>(r % 16 == 0 ? r >> 8 : (r % 4 == 0 ? 0x80 | (r >> 8) % 64 : 'a'));
      }
    }
    checker_.Check(s, i % 8);
  }
}

// Separators denser than one in four bytes, hundreds of pairs per hit, pairs spanning many
// 64-byte blocks, all with good escapes, so that every separator position is compared.
TEST_P(ByteKernelsTest, DenseSeparatorsAndManyPairs) {
  const auto repeat = [](std::string_view piece, size_t times) {
    std::string s;
    for (size_t i = 0; i < times; ++i) s += piece;
    return s;
  };
  for (const std::string& s :
       {repeat("a=b&", 300), repeat("&", 200), repeat("=", 200), repeat("&=", 150),
        repeat("a==b&&c", 100), repeat("%41=%42&", 90), "&&k=" + repeat("x", 200) + "&z",
        "k" + repeat("x", 130) + "=" + repeat("%C3%A9", 40) + "&=v&" + repeat("y=", 70)}) {
    checker_.Check(s);
    checker_.Check(s, 5);
  }
  std::mt19937 rng(0x5E9A);
  constexpr std::string_view kPieces[] = {"&", "=", "a", "+", "%41", "%C3%A9", "%26", "%3D"};
  for (int i = 0; i < 3000; ++i) {
    std::string s;
    const size_t pieces = rng() % 400;
    for (size_t k = 0; k < pieces; ++k) s += kPieces[rng() % std::size(kPieces)];
    checker_.Check(s, i % 4);
  }
}

// Inputs past 2^14 vectors, where the lanes' sums are added up into 64 bits before they could
// wrap: all 0xFF bytes make every word 0xFFFF, the largest a lane adds.
TEST_P(ByteKernelsTest, InternetSumOfInputsLongerThanALanesFlush) {
  for (const size_t n : {size_t{1} << 20, (size_t{1} << 21) + 7, (size_t{1} << 22) + 1}) {
    const std::vector<uint8_t> ones(n, 0xFF);
    ASSERT_EQ(checker_.simd.internet_sum(ones.data(), n), InternetSum(ones.data(), n)) << n;
    std::vector<uint8_t> mixed(n);
    std::mt19937 rng(static_cast<uint32_t>(n));
    for (uint8_t& b : mixed) b = static_cast<uint8_t>(rng() % 4 == 0 ? 0xFF : rng());
    ASSERT_EQ(checker_.simd.internet_sum(mixed.data(), n), InternetSum(mixed.data(), n)) << n;
  }
}

TEST_P(ByteKernelsTest, Hash64BatchMatchesHash64) {
  GaHitGenerator gen(5);
  const std::string hit = gen.Hit();
  std::vector<std::string_view> keys;
  for (size_t len = 0; len < 100 && len <= hit.size(); ++len) {
    keys.push_back(std::string_view(hit).substr(0, len));
  }
  std::vector<uint64_t> out(keys.size());
  checker_.simd.hash64_batch(keys.data(), keys.size(), 42, out.data());
  for (size_t i = 0; i < keys.size(); ++i) ASSERT_EQ(out[i], Hash64(keys[i], 42)) << i;
  Hash64Batch(keys.data(), keys.size(), 7, out.data());
  EXPECT_EQ(out[10], Hash64(keys[10], 7));
}

// The drop-in entry points dispatch to the forced target too.
TEST_P(ByteKernelsTest, DropInsAgreeWithTheTable) {
  EXPECT_STREQ(ActiveSimdTarget().name, GetParam().name);
  EXPECT_TRUE(IsValidUtf8Simd("caf\xC3\xA9"));
  EXPECT_FALSE(IsValidUtf8Simd("caf\xC3"));
  char out[64];
  size_t size = 0;
  ASSERT_TRUE(FormDecodeSimd("a+b%3Dc%c3%a9", out, &size));
  EXPECT_EQ(std::string_view(out, size), "a b=c\xC3\xA9");
  EXPECT_FALSE(FormDecodeSimd("abc%4", out, &size));
  uint32_t positions[8];
  const FormSeparators separators{positions, 8};
  const FormScan scan = SplitForm("v=1&&t=page%76iew&ni&dt=caf%C3%A9", out, separators);
  EXPECT_TRUE(scan.escapes_ok);
  EXPECT_TRUE(scan.utf8_ok);
  ASSERT_EQ(scan.separators, 7u);
  EXPECT_EQ(std::string_view(out, scan.decoded_size), "v=1&&t=pageview&ni&dt=caf\xC3\xA9");
  // Every '=' and '&' of the hit at its output position (the %76 escape shifts the later ones).
  EXPECT_EQ(std::vector<uint32_t>(positions, positions + 7),
            (std::vector<uint32_t>{1, 3, 4, 6, 15, 18, 21}));
  EXPECT_FALSE(SplitForm("dt=%C3", out, separators).utf8_ok);
  EXPECT_EQ(SplitForm("a=1&b=%zz", out, separators), (FormScan{false, false, 0, 0}));
  EXPECT_EQ(FindByte("abc&def", 7, '&'), 3u);
  EXPECT_EQ(FindAnyOf("/path?q#f", 9, AsciiSet("?#")), 5u);
  uint64_t bits[2];
  Classify("a=1&b=2", 7, kFormStructurals, bits);
  EXPECT_EQ(bits[0], 0b0101010u);
}

std::string TargetName(const testing::TestParamInfo<SimdTarget>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(SupportedTargets, ByteKernelsTest,
                         testing::ValuesIn(SupportedSimdTargets()), TargetName);

// ---------------------------------------------------------------- targets and tables

TEST(SimdTargetsTest, AvxSseAndScalarFallbackAreCompiledIn) {
  std::vector<std::string> names;
  for (const SimdTarget& t : CompiledSimdTargets()) names.emplace_back(t.name);
  EXPECT_NE(std::find(names.begin(), names.end(), "AVX3"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "AVX2"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "SSE4"), names.end());
  EXPECT_TRUE(names.back() == "SCALAR" || names.back() == "EMU128") << names.back();
}

TEST(SimdTargetsTest, SupportedAreCompiledBestFirstEndingWithTheFallback) {
  const std::vector<SimdTarget> supported = SupportedSimdTargets();
  ASSERT_FALSE(supported.empty());
  for (size_t i = 1; i < supported.size(); ++i) EXPECT_LT(supported[i - 1].bits, supported[i].bits);
  EXPECT_EQ(supported.back().bits, CompiledSimdTargets().back().bits);
  EXPECT_EQ(ActiveSimdTarget().bits, supported.front().bits);
  EXPECT_STREQ(SimdByteKernels().target, supported.front().name);
}

TEST(SimdTargetsTest, ScalarTableIsTheReference) {
  const ByteKernels scalar = ScalarByteKernels();
  EXPECT_STREQ(scalar.backend, "scalar");
  EXPECT_STREQ(scalar.target, "reference");
  EXPECT_FALSE(scalar.is_valid_utf8("\xED\xA0\x80"));
}

TEST(AsciiSetTest, MembersOnly) {
  const AsciiSet set("&=\n\x7f");
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    EXPECT_EQ(set.Contains(c), c == '&' || c == '=' || c == '\n' || c == '\x7f') << b;
  }
  EXPECT_THROW(AsciiSet("caf\xC3\xA9"), std::invalid_argument);
}

}  // namespace
}  // namespace beacon::kernels
