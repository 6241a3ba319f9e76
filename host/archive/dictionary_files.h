// Archive dictionaries on disk, beside the segments they serve: dict-<id>.zdict, 0600, written
// atomically (temporary file, fdatasync, rename, directory fsync), so a crash leaves either the
// whole dictionary or none.
#pragma once

#include <string>
#include <vector>

#include "host/archive/file_system.h"
#include "kernels/archive/dictionary.h"

namespace beacon::host {

std::string DictionaryFileName(uint32_t id);

// Returns 0 or an errno; EEXIST when a dictionary with this id is already stored.
int SaveDictionary(FileSystem& fs, const std::string& dir,
                   const kernels::ArchiveDictionary& dictionary);

// Adds every stored dictionary of `dir` to `dictionaries`. A file that cannot be read, is not a
// dictionary or whose id is not the one its name gives is skipped, the others still loaded (only
// the blocks that need a skipped one are unreadable), and named in `refused` ("<file>: <why>").
// Returns 0, the errno of listing `dir`, or (every loadable file loaded) that of the first
// refused file: EINVAL for one that is not the dictionary its name says.
int LoadDictionaries(FileSystem& fs, const std::string& dir, kernels::DictionarySet* dictionaries,
                     std::vector<std::string>* refused = nullptr);

}  // namespace beacon::host
