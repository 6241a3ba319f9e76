// Directories and files only beacond's user may read: the state (visitor salts) and the spool.
#pragma once

#include <filesystem>
#include <string_view>

namespace beacon::host {

// Creates `dir` (and its parents) as needed and makes it mode 0700, also when it existed with a
// looser mode. Throws std::runtime_error beginning with `who` when it cannot, or when an
// existing `dir` open to others belongs to another user or is sticky (a shared one like /tmp).
void EnsurePrivateDirectory(const std::filesystem::path& dir, std::string_view who);

// Makes each regular file directly in `dir` mode 0600 (files written before this was enforced).
void RestrictFiles(const std::filesystem::path& dir);

}  // namespace beacon::host
