// The uap-core YAML subset reader; see uap_yaml.h.
#include "kernels/enrich/uap_yaml.h"

#include <stdexcept>

#include "kernels/bytes/hex.h"

namespace beacon::kernels {
namespace {

[[noreturn]] void Fail(std::string_view source, int line, std::string_view what) {
  throw std::runtime_error(std::string(source) + ":" + std::to_string(line) + ": " +
                           std::string(what));
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Parses the scalar at the start of `s` (after "key: ").
std::string ParseScalar(std::string_view s, std::string_view source, int line) {
  s = Trim(s);
  std::string out;
  if (s.empty()) return out;
  if (s.front() == '\'') {
    size_t i = 1;
    for (;; ++i) {
      if (i >= s.size()) Fail(source, line, "unterminated single-quoted scalar");
      if (s[i] == '\'') {
        if (i + 1 < s.size() && s[i + 1] == '\'') {
          out.push_back('\'');
          ++i;
          continue;
        }
        break;
      }
      out.push_back(s[i]);
    }
    const std::string_view rest = Trim(s.substr(i + 1));
    if (!rest.empty() && rest.front() != '#') Fail(source, line, "text after a quoted scalar");
    return out;
  }
  if (s.front() == '"') {
    size_t i = 1;
    for (;; ++i) {
      if (i >= s.size()) Fail(source, line, "unterminated double-quoted scalar");
      if (s[i] == '"') break;
      if (s[i] != '\\') {
        out.push_back(s[i]);
        continue;
      }
      if (++i >= s.size()) Fail(source, line, "unterminated escape");
      switch (s[i]) {
        case '\\':
          out.push_back('\\');
          break;
        case '"':
          out.push_back('"');
          break;
        case '/':
          out.push_back('/');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 'x': {
          if (i + 2 >= s.size() || HexDigitValue(s[i + 1]) == kNotHex ||
              HexDigitValue(s[i + 2]) == kNotHex) {
            Fail(source, line, "\\x needs two hex digits");
          }
          out.push_back(static_cast<char>(HexDigitValue(s[i + 1]) * 16 + HexDigitValue(s[i + 2])));
          i += 2;
          break;
        }
        default:
          Fail(source, line, "unsupported escape in a double-quoted scalar");
      }
    }
    const std::string_view rest = Trim(s.substr(i + 1));
    if (!rest.empty() && rest.front() != '#') Fail(source, line, "text after a quoted scalar");
    return out;
  }
  const size_t comment = s.find(" #");
  return std::string(Trim(s.substr(0, comment)));
}

// Splits "key: value" (or "key:"); returns false when there is no ':' after a plain key.
bool SplitKey(std::string_view s, std::string_view* key, std::string_view* value) {
  const size_t colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  for (size_t i = 0; i < colon; ++i) {
    const char c = s[i];
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '_' || c == '-';
    if (!plain) return false;
  }
  if (colon + 1 < s.size() && s[colon + 1] != ' ') return false;
  *key = s.substr(0, colon);
  *value = s.substr(colon + 1);
  return true;
}

}  // namespace

const std::string* UapYamlEntry::Find(std::string_view key) const {
  for (const auto& [k, v] : fields) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::vector<UapYamlSection> ParseUapYaml(std::string_view text, std::string_view source) {
  std::vector<UapYamlSection> sections;
  size_t item_indent = 0;
  int line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const size_t indent = line.find_first_not_of(' ');
    if (indent == std::string_view::npos || line[indent] == '#') continue;
    std::string_view body = line.substr(indent);
    std::string_view key;
    std::string_view value;
    if (indent == 0) {
      if (!SplitKey(body, &key, &value) || !Trim(value).empty()) {
        Fail(source, line_number, "expected a section key \"name:\"");
      }
      sections.push_back({std::string(key), {}});
      continue;
    }
    if (sections.empty()) Fail(source, line_number, "expected a section key before items");
    auto& entries = sections.back().entries;
    if (body.size() >= 2 && body[0] == '-' && body[1] == ' ') {
      item_indent = indent;
      entries.push_back({line_number, {}});
      body = Trim(body.substr(2));
    } else if (entries.empty() || indent <= item_indent) {
      Fail(source, line_number, "expected \"- key: value\" or a deeper-indented \"key: value\"");
    }
    if (!SplitKey(body, &key, &value)) Fail(source, line_number, "expected \"key: value\"");
    entries.back().fields.emplace_back(std::string(key), ParseScalar(value, source, line_number));
  }
  return sections;
}

}  // namespace beacon::kernels
