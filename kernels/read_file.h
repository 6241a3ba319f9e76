// Reading a whole configuration file (the config, the site registry, uap-core's patterns, a
// token file). Header-only, so that every loader reads files the same way.
#pragma once

#include <array>
#include <fstream>
#include <string>

namespace beacon::kernels {

// The whole of `path` into `*text`; false when it cannot be opened or read. Not `out <<
// in.rdbuf()`: that swallows a read error (a directory opens, then read(2) fails with EISDIR;
// an I/O error part-way) and leaves an empty or cut text, which a loader would take as a file
// that says nothing.
inline bool ReadWholeFile(const std::string& path, std::string* text) {
  text->clear();
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::array<char, 65536> chunk;
  while (in.read(chunk.data(), chunk.size()) || in.gcount() > 0) {
    text->append(chunk.data(), static_cast<size_t>(in.gcount()));
  }
  return !in.bad();
}

}  // namespace beacon::kernels
