// json_writer.h — compact JSON text of a nlohmann::json value, byte for
// byte what value.dump(-1, ' ', false, error_handler_t::replace) gives, in
// a fraction of the time for documents made mostly of long plain strings
// (the state file's base64 window rows and client references: ~24 MB a
// round at 1,000 updates, 190 ms in nlohmann's serializer, which checks
// every byte of every string as UTF-8). Thread-safe; reads `value` only.
#ifndef FLSENTRY_BASE_JSON_WRITER_H_
#define FLSENTRY_BASE_JSON_WRITER_H_

#include <nlohmann/json.hpp>
#include <string>

namespace flsentry {

// Appends the compact text of `value` to *out. A string of printable ASCII
// without '"' or '\\' is copied as it is; any other string, and every
// number, is written by nlohmann's serializer (so escapes, invalid UTF-8
// replaced by U+FFFD, and number formats are nlohmann's). Objects keep
// nlohmann's key order. Throws what nlohmann's dump throws (std::bad_alloc).
void AppendCompactJson(const nlohmann::json& value, std::string* out);

}  // namespace flsentry

#endif  // FLSENTRY_BASE_JSON_WRITER_H_
