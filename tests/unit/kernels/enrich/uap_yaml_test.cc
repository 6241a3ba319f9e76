// The uap-core YAML subset reader: scalars, sections, errors with line numbers.
#include "kernels/enrich/uap_yaml.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace beacon::kernels {
namespace {

TEST(UapYamlTest, ReadsSectionsItemsAndScalars) {
  const auto sections = ParseUapYaml(R"(# comment
first:
  # indented comment

  - regex: 'a''b\d'
    family_replacement: "x \"q\" \\ \x41"
  - user_agent_string: plain value # trailing
    patch:
second:
  - k: ''
)",
                                     "t");
  ASSERT_EQ(sections.size(), 2u);
  EXPECT_EQ(sections[0].name, "first");
  ASSERT_EQ(sections[0].entries.size(), 2u);
  EXPECT_EQ(sections[0].entries[0].line, 5);
  EXPECT_EQ(*sections[0].entries[0].Find("regex"), "a'b\\d");
  EXPECT_EQ(*sections[0].entries[0].Find("family_replacement"), "x \"q\" \\ A");
  EXPECT_EQ(*sections[0].entries[1].Find("user_agent_string"), "plain value");
  EXPECT_EQ(*sections[0].entries[1].Find("patch"), "");
  EXPECT_EQ(sections[0].entries[1].Find("missing"), nullptr);
  EXPECT_EQ(*sections[1].entries[0].Find("k"), "");
}

TEST(UapYamlTest, NamesTheLineOfWhatItCannotRead) {
  const char* kBad[] = {
      "  - a: 'x'\n",                // item before any section
      "s:\n  - a: 'unterminated\n",  // quote
      "s:\n  - a: 'x' y\n",          // text after a quote
      "s:\n  - a: \"\\q\"\n",        // escape
      "s:\n  - not a key\n",         // no colon
      "s: value\n",                  // section with a scalar
      "s:\n  a: 'x'\n",              // field before any item
  };
  for (const char* text : kBad) {
    EXPECT_THROW(ParseUapYaml(text, "bad.yaml"), std::runtime_error) << text;
  }
  try {
    ParseUapYaml("s:\n  - a: 'x'\n  - b: 'unterminated\n", "bad.yaml");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "bad.yaml:3: unterminated single-quoted scalar");
  }
}

}  // namespace
}  // namespace beacon::kernels
