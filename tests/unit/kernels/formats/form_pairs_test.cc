// SplitFormPairs and ParseForm (kernels/formats/common.h) against a plain split of the same
// list (NextField, FormDecode, IsValidUtf8 per key and value), with every byte kernel table,
// for lists of up to several split_form blocks of pairs.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kernels/bytes/text.h"
#include "kernels/bytes/url_encoding.h"
#include "kernels/bytes/utf8.h"
#include "kernels/formats/common.h"
#include "kernels/simd/byte_kernels.h"

namespace beacon::kernels {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

struct Expected {
  FormStatus status = FormStatus::kOk;
  Pairs pairs;  // empty on a bad escape
};

Expected PlainSplit(std::string_view form) {
  Expected expected;
  std::string decoded(form.size(), '\0');
  bool last = form.empty();
  while (!last) {
    const std::string_view pair = NextField(&form, '&', &last);
    if (pair.empty()) continue;
    bool no_value = false;
    std::string_view rest = pair;
    const std::string_view raw_key = NextField(&rest, '=', &no_value);
    size_t key_size = 0;
    size_t value_size = 0;
    if (!FormDecode(raw_key, decoded.data(), &key_size)) return {FormStatus::kBadEscape, {}};
    std::string key(decoded.data(), key_size);
    if (!FormDecode(rest, decoded.data(), &value_size)) return {FormStatus::kBadEscape, {}};
    std::string value(decoded.data(), value_size);
    if (!IsValidUtf8(key) || !IsValidUtf8(value)) expected.status = FormStatus::kInvalidUtf8;
    expected.pairs.emplace_back(std::move(key), std::move(value));
  }
  return expected;
}

std::string RandomForm(std::mt19937_64& rng) {
  static constexpr std::string_view kPieces[] = {
      "a", "key", "=", "&", "&&", "%41", "%c3%a9", "+", "x=y=z", "\xE2\x82\xAC", "v1"};
  // At most one of these per list: a bad escape (no pairs at all) or invalid UTF-8.
  static constexpr std::string_view kFaults[] = {"%", "%zz", "%4", "\xC3", "%ED%A0%80"};
  const size_t pairs = std::uniform_int_distribution<size_t>(0, 300)(rng);
  std::string form;
  for (size_t i = 0; i < pairs; ++i) {
    const size_t pieces = std::uniform_int_distribution<size_t>(1, 4)(rng);
    for (size_t p = 0; p < pieces; ++p) {
      form += kPieces[std::uniform_int_distribution<size_t>(0, std::size(kPieces) - 1)(rng)];
    }
    form += '&';
  }
  if (std::uniform_int_distribution<int>(0, 2)(rng) == 0) {
    const size_t at = std::uniform_int_distribution<size_t>(0, form.size())(rng);
    form.insert(at, kFaults[std::uniform_int_distribution<size_t>(0, std::size(kFaults) - 1)(rng)]);
  }
  return form;
}

void ExpectLikePlainSplit(const ByteKernels& bytes, const std::string& form) {
  const Expected expected = PlainSplit(form);
  std::string scratch(form.size(), '\0');
  Pairs got;
  const FormStatus status =
      ParseForm(bytes, form, scratch.data(), [&](std::string_view key, std::string_view value) {
        got.emplace_back(std::string(key), std::string(value));
      });
  ASSERT_EQ(status, expected.status) << form;
  EXPECT_EQ(got, expected.pairs) << form;
}

TEST(FormPairsTest, ManyPairsAcrossBlocksMatchThePlainSplitOnEveryTable) {
  std::vector<ByteKernels> tables = {ReferenceByteKernels()};
  for (const SimdTarget& target : SupportedSimdTargets()) {
    ForceSimdTargetForTest(target.bits);
    tables.push_back(SimdByteKernels());
  }
  ForceSimdTargetForTest(0);
  std::mt19937_64 rng(5);
  size_t multi_block = 0;
  for (int i = 0; i < 400; ++i) {
    const std::string form = RandomForm(rng);
    const size_t separators = static_cast<size_t>(std::count(form.begin(), form.end(), '&') +
                                                  std::count(form.begin(), form.end(), '='));
    if (separators > kFormSeparatorBlock) ++multi_block;
    for (const ByteKernels& bytes : tables) {
      SCOPED_TRACE(bytes.target);
      ExpectLikePlainSplit(bytes, form);
    }
  }
  EXPECT_GT(multi_block, 50u);  // the continuation after a full block is exercised
}

TEST(FormPairsTest, PairsAfterTheFirstBlockKeepTheirOrder) {
  std::string form;
  for (int i = 0; i < 200; ++i) form += "&&k" + std::to_string(i) + "=%41" + std::to_string(i);
  ExpectLikePlainSplit(ReferenceByteKernels(), form);
  size_t count = 0;
  std::string scratch(form.size(), '\0');
  std::string last_key;
  std::string last_value;
  EXPECT_EQ(ParseForm(ReferenceByteKernels(), form, scratch.data(),
                      [&](std::string_view key, std::string_view value) {
                        ++count;
                        last_key = key;
                        last_value = value;
                      }),
            FormStatus::kOk);
  EXPECT_EQ(count, 200u);
  EXPECT_EQ(last_key, "k199");
  EXPECT_EQ(last_value, "A199");
}

// A pair is split across split_form calls when its value holds more '=' than one call stores.
TEST(FormPairsTest, AValueWithMoreSeparatorsThanACallStoresStaysOnePair) {
  const std::string form =
      "k=" + std::string(3 * kFormSeparatorBlock, '=') + "%41&&b=c=d&" + std::string(300, '&');
  for (const NamedByteKernels& table : ByteKernelsPerTarget()) {
    SCOPED_TRACE(table.name);
    ExpectLikePlainSplit(table.kernels, form);
  }
}

}  // namespace
}  // namespace beacon::kernels
