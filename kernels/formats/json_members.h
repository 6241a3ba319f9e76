// The members a decoder reads from a JSON object, found in one pass over it instead of one
// at_key scan per key.
#pragma once

#include <simdjson.h>

#include <array>
#include <cstddef>
#include <string_view>

namespace beacon::kernels {

// The first occurrence of each of N keys in an object, as at_key would find it (keys compared
// unescaped). `key_of(key)` gives a member's key index, or a value >= N for keys not read.
template <size_t N>
class JsonMembers {
 public:
  template <typename KeyOf>
  JsonMembers(const simdjson::dom::object& object, KeyOf&& key_of) {
    for (const simdjson::dom::key_value_pair member : object) {
      const size_t key = key_of(member.key);
      if (key >= N || present_[key]) continue;
      present_[key] = true;
      values_[key] = member.value;
    }
  }

  // The member, false when absent.
  bool Get(size_t key, simdjson::dom::element* value) const {
    if (!present_[key]) return false;
    *value = values_[key];
    return true;
  }

  // JsonString's rule (common.h): true with *value set when a string, true with *value empty
  // when absent or null, false for another type.
  bool String(size_t key, std::string_view* value) const {
    *value = {};
    if (!present_[key] || values_[key].is_null()) return true;
    return values_[key].get_string().get(*value) == simdjson::SUCCESS;
  }

 private:
  std::array<simdjson::dom::element, N> values_{};
  std::array<bool, N> present_{};
};

}  // namespace beacon::kernels
