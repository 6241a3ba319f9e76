// Byte-level building blocks of the line and field formats (gtag bodies, relay log lines):
// splitting and the relay log format's backslash unescaping. Every scan goes through a byte
// kernel table (kernels/bytes/byte_table.h); every table gives identical results, and the
// default is the scalar reference.
#pragma once

#include <cstddef>
#include <string_view>

#include "kernels/bytes/scalar_kernels.h"

namespace beacon::kernels {

// Takes the next line off the front of *rest: the bytes up to the first '\n' (or all of
// *rest), with one '\r' at its end dropped. *rest keeps what follows the '\n'.
std::string_view NextLine(std::string_view* rest,
                          const ByteKernels& bytes = ReferenceByteKernels());

// Takes the bytes up to the first `delimiter` off the front of *rest (all of *rest when there
// is none; *rest is then empty and *last is set). The delimiter itself is dropped.
std::string_view NextField(std::string_view* rest, char delimiter, bool* last,
                           const ByteKernels& bytes = ReferenceByteKernels());

// Splits `text` at every `delimiter` into `fields` (capacity `max_fields`). Returns the number
// of fields, or max_fields + 1 when there are more than `max_fields`. "" has one empty field.
size_t SplitFields(std::string_view text, char delimiter, std::string_view* fields,
                   size_t max_fields, const ByteKernels& bytes = ReferenceByteKernels());

// Undoes the relay log format's escaping (kernels/formats/README.md, "Relay log line"):
// `\"` `\\` `\/` `\b` `\f` `\n` `\r` `\t`, and `\u00XX` for the single byte 0xXX. Writes at
// most escaped.size() bytes to `out`. False on any other backslash sequence.
bool UnescapeLogField(std::string_view escaped, char* out, size_t* out_size,
                      const ByteKernels& bytes = ReferenceByteKernels());

// The offset just past the first occurrence of `needle` in `text`, or npos.
size_t FindEnd(std::string_view text, std::string_view needle,
               const ByteKernels& bytes = ReferenceByteKernels());

}  // namespace beacon::kernels
