// base64.h — float arrays as base64 text (RFC 4648, with padding), the form
// the JSON state file carries embeddings and weights in. The bytes are the
// floats' IEEE binary32 in little-endian order (the byte order of every
// platform flsentry builds on; a static_assert in base64.cc says so). Pure
// functions; thread-safe.
#ifndef FLSENTRY_BASE_BASE64_H_
#define FLSENTRY_BASE_BASE64_H_

#include <span>
#include <string>
#include <vector>

#include "base/status.h"

namespace flsentry {

std::string FloatsToBase64(std::span<const float> values);

// Decodes exactly `expected` floats. Errors: kState "base64 data has the
// wrong length" or "invalid base64 data" (the text is never quoted back).
Result<std::vector<float>> Base64ToFloats(const std::string& text,
                                          size_t expected);

}  // namespace flsentry

#endif  // FLSENTRY_BASE_BASE64_H_
