// Archive dictionaries over zstd's ZDICT trainer and prepared decompression dictionaries.
#include "kernels/archive/dictionary.h"

#include <zdict.h>
#include <zstd.h>

#include <utility>
#include <vector>

namespace beacon::kernels {

ArchiveDictionary::ArchiveDictionary(std::string bytes, uint32_t id, ZSTD_DDict* ddict)
    : bytes_(std::move(bytes)), id_(id), ddict_(ddict) {}

ArchiveDictionary::~ArchiveDictionary() { ZSTD_freeDDict(ddict_); }

std::unique_ptr<const ArchiveDictionary> ArchiveDictionary::Load(std::string bytes) {
  const uint32_t id = ZDICT_getDictID(bytes.data(), bytes.size());
  if (id == 0) return nullptr;
  ZSTD_DDict* ddict = ZSTD_createDDict(bytes.data(), bytes.size());
  if (ddict == nullptr) return nullptr;
  return std::unique_ptr<const ArchiveDictionary>(
      new ArchiveDictionary(std::move(bytes), id, ddict));
}

bool DictionarySet::Add(std::string bytes) {
  std::unique_ptr<const ArchiveDictionary> dictionary = ArchiveDictionary::Load(std::move(bytes));
  if (dictionary == nullptr || by_id_.count(dictionary->id()) != 0) return false;
  const uint32_t id = dictionary->id();
  by_id_.emplace(id, std::move(dictionary));
  return true;
}

const ArchiveDictionary* DictionarySet::Find(uint32_t id) const {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second.get();
}

std::string TrainArchiveDictionary(std::span<const ArchiveRecord> records, size_t capacity) {
  std::string joined;
  std::vector<size_t> sizes;
  sizes.reserve(records.size());
  for (const ArchiveRecord& record : records) {
    joined.append(record.payload).append(record.query).append(record.user_agent);
    sizes.push_back(record.payload.size() + record.query.size() + record.user_agent.size());
  }
  std::string dictionary(capacity, '\0');
  const size_t size = ZDICT_trainFromBuffer(dictionary.data(), dictionary.size(), joined.data(),
                                            sizes.data(), static_cast<unsigned>(sizes.size()));
  if (ZDICT_isError(size)) return {};
  dictionary.resize(size);
  return dictionary;
}

}  // namespace beacon::kernels
