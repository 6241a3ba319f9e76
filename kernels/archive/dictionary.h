// Archive zstd dictionaries: trained from encoded records of the node's own traffic, stored by
// id; a block names the dictionary its frame needs (0: none).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "kernels/archive/format.h"

typedef struct ZSTD_DDict_s ZSTD_DDict;

namespace beacon::kernels {

// One dictionary, immutable once loaded; its id is the dictionary id zstd stores in it.
class ArchiveDictionary {
 public:
  // Null when `bytes` is not a zstd dictionary with a non-zero id.
  static std::unique_ptr<const ArchiveDictionary> Load(std::string bytes);
  ~ArchiveDictionary();
  ArchiveDictionary(const ArchiveDictionary&) = delete;
  ArchiveDictionary& operator=(const ArchiveDictionary&) = delete;

  uint32_t id() const { return id_; }
  std::string_view bytes() const { return bytes_; }
  // Prepared for decompression; safe to share between threads (each with its own context).
  const ZSTD_DDict* ddict() const { return ddict_; }

 private:
  ArchiveDictionary(std::string bytes, uint32_t id, ZSTD_DDict* ddict);

  std::string bytes_;
  uint32_t id_;
  ZSTD_DDict* ddict_;
};

// Where a block decoder finds the dictionary a block names.
class DictionaryStore {
 public:
  virtual ~DictionaryStore() = default;
  // Null when the store does not hold `id`.
  virtual const ArchiveDictionary* Find(uint32_t id) const = 0;
};

// The in-memory store: dictionaries loaded at start (files, `beaconctl archive train`).
class DictionarySet : public DictionaryStore {
 public:
  // False (nothing kept) when the bytes are not a dictionary or the id is already held.
  bool Add(std::string bytes);
  const ArchiveDictionary* Find(uint32_t id) const override;

 private:
  std::map<uint32_t, std::unique_ptr<const ArchiveDictionary>> by_id_;
};

// Trains a dictionary of at most `capacity` bytes from records of the node's own traffic (a
// sample per record: its payload, query and user agent). Empty when zstd cannot train one (too
// few or too uniform records).
std::string TrainArchiveDictionary(std::span<const ArchiveRecord> records, size_t capacity);

}  // namespace beacon::kernels
