// Archive dictionaries on disk, beside the segments they serve: dict-<id>.zdict, 0600, written
// atomically (temporary file, fdatasync, rename, directory fsync), so a crash leaves either the
// whole dictionary or none.
#pragma once

#include <string>

#include "host/archive/file_system.h"
#include "kernels/archive/dictionary.h"

namespace beacon::host {

std::string DictionaryFileName(uint32_t id);

// Returns 0 or an errno; EEXIST when a dictionary with this id is already stored.
int SaveDictionary(FileSystem& fs, const std::string& dir,
                   const kernels::ArchiveDictionary& dictionary);

// Adds every stored dictionary of `dir` to `dictionaries`. Returns 0 or an errno; EINVAL when a
// file is not a dictionary or its id is not the one its name gives.
int LoadDictionaries(FileSystem& fs, const std::string& dir, kernels::DictionarySet* dictionaries);

}  // namespace beacon::host
