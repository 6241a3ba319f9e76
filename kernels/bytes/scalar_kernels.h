// The scalar reference byte kernels: the building blocks of kernels/bytes and plain loops.
#pragma once

#include "kernels/bytes/byte_table.h"

namespace beacon::kernels {

// The scalar reference table ("scalar", target "reference").
ByteKernels ScalarByteKernels();

// The scalar reference table, built once: what the decoders use when DecodeContext::bytes is
// null, and the default table of the building blocks (text.h, url.h).
const ByteKernels& ReferenceByteKernels();

}  // namespace beacon::kernels
