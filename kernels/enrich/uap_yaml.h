// A reader for the YAML subset of uap-core's files (regexes.yaml and the test case files):
// top-level keys holding lists of flat "key: scalar" maps. No YAML library needed.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace beacon::kernels {

// One list item: its keys and scalar values in file order.
struct UapYamlEntry {
  int line = 0;  // 1-based line of the item's "- "
  std::vector<std::pair<std::string, std::string>> fields;

  // The value of `key`, or nullptr when the item has no such key. A key without a value
  // ("patch:") has an empty value.
  const std::string* Find(std::string_view key) const;
};

// A top-level key ("user_agent_parsers:", "test_cases:") and its list.
struct UapYamlSection {
  std::string name;
  std::vector<UapYamlEntry> entries;
};

// Parses the subset: '#' comment lines, blank lines, unindented "name:" section keys, "- key:
// value" items with further "key: value" lines indented deeper. Scalars are single-quoted
// ('' is a quote), double-quoted (\\ \" \t \n \r \/ \xHH escapes) or plain (up to a " #"
// comment, trimmed). Throws std::runtime_error naming `source`, the line and what was
// expected for anything else.
std::vector<UapYamlSection> ParseUapYaml(std::string_view text, std::string_view source);

}  // namespace beacon::kernels
