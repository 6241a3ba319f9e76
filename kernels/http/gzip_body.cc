// zlib inflate of a gzip body with an output cap.
#include "kernels/http/gzip_body.h"

#include <zlib.h>

#include <algorithm>

namespace beacon::kernels {

GunzipStatus Gunzip(std::string_view in, size_t max_out, std::string* out) {
  out->clear();
  z_stream zs{};
  // 16 + MAX_WBITS: gzip wrapper only (no raw deflate, no zlib wrapper).
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return GunzipStatus::kCorrupt;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  // One byte beyond the cap tells "exactly max_out" from "more than max_out".
  const size_t limit = max_out + 1;
  out->resize(std::min<size_t>(limit, std::max<size_t>(in.size() * 4, 4096)));
  size_t produced = 0;
  GunzipStatus status = GunzipStatus::kCorrupt;
  for (;;) {
    if (produced == out->size()) {
      if (out->size() >= limit) {
        status = GunzipStatus::kTooLarge;
        break;
      }
      out->resize(std::min(limit, out->size() * 2));
    }
    zs.next_out = reinterpret_cast<Bytef*>(out->data() + produced);
    zs.avail_out = static_cast<uInt>(out->size() - produced);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    produced = out->size() - zs.avail_out;
    if (produced > max_out) {
      status = GunzipStatus::kTooLarge;
      break;
    }
    if (rc == Z_STREAM_END) {
      status = zs.avail_in == 0 ? GunzipStatus::kOk : GunzipStatus::kCorrupt;
      break;
    }
    if (rc != Z_OK) break;  // Z_DATA_ERROR, Z_BUF_ERROR (truncated input), Z_MEM_ERROR
  }
  inflateEnd(&zs);
  out->resize(status == GunzipStatus::kOk ? produced : 0);
  return status;
}

}  // namespace beacon::kernels
