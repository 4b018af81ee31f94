// json_reader.h — the one JSON reader for every format flsentry reads
// (safetensors headers, round-archive manifests, detector.json, the state
// file): nlohmann::json, but strict about what it silently accepts: a key
// given twice in one object is an error naming the key and where it is
// (nlohmann keeps the last value). Never throws. Thread-safe.
#ifndef FLSENTRY_BASE_JSON_READER_H_
#define FLSENTRY_BASE_JSON_READER_H_

#include <nlohmann/json.hpp>
#include <string_view>

#include "base/status.h"

namespace flsentry {

// Parses `text` as one JSON value. Errors: kCorrupt "not valid JSON: <the
// parser's message>" or "key \"<key>\" given twice in <where>", <where>
// being a JSON pointer of the object ("/" for the top level). The key is
// printed as JSON (quoted, escaped), never as raw bytes.
Result<nlohmann::json> ParseJsonStrict(std::string_view text);

}  // namespace flsentry

#endif  // FLSENTRY_BASE_JSON_READER_H_
