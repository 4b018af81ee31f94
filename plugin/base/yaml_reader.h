// yaml_reader.h — the one strict reader of flsentry's YAML documents (the
// policy, the training config, simulation configs): a document is walked
// against a table of known keys, and anything else is an error that names
// the key path with line and column, e.g.
//   thresholds.rules[1].k: must be > 0 (line 12, column 10)
// Strict means: unknown keys, keys given twice, quoted numbers or booleans
// ("5", 'true'), non-finite numbers, strings with NUL or over 4096 bytes and
// more than one document are all refused; a quoted scalar where a number,
// an integer or a boolean is wanted is refused as such, e.g.
//   thresholds.rules[0].k: expected a number, got the quoted string "5";
//   write it without quotes (line 3, column 10)
// ("; write it without quotes" only when the text reads once unquoted).
// Never throws (yaml-cpp's exceptions are caught here). Thread-compatible.
#ifndef FLSENTRY_BASE_YAML_READER_H_
#define FLSENTRY_BASE_YAML_READER_H_

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace flsentry::yaml {

// Parses `text` as exactly one YAML document of at most `max_bytes` bytes.
// Empty text or only comments give a null node. Errors: kConfig with
// "invalid YAML: <yaml-cpp's message> (line L, column C)", "holds more than
// one YAML document", or "larger than N bytes".
Result<YAML::Node> LoadDocument(std::string_view text, size_t max_bytes);

// kConfig "<path>: <problem> (line L, column C)" (the mark of `node`).
Status ErrorAt(const YAML::Node& node, const std::string& path,
               const std::string& problem);

// "a.b" from path "a" and key "b"; "b" from an empty path.
std::string Join(const std::string& path, const std::string& key);

// Scalars. Each returns ErrorAt(node, path, ...) on a wrong type or value.
Status ReadDouble(const YAML::Node& node, const std::string& path,
                  double* out);  // finite
Status ReadInt(const YAML::Node& node, const std::string& path, int64_t lo,
               int64_t hi, int64_t* out);  // in [lo, hi]
Status ReadUint64(const YAML::Node& node, const std::string& path,
                  uint64_t* out);  // [0, 2^64 - 1], no sign
Status ReadBool(const YAML::Node& node, const std::string& path,
                bool* out);  // true/false/yes/no/on/off, unquoted
Status ReadString(const YAML::Node& node, const std::string& path,
                  std::string* out);  // <= 4096 bytes, no NUL

// ok ? OK : ErrorAt(node, path, requirement).
Status CheckRange(bool ok, const YAML::Node& node, const std::string& path,
                  const char* requirement);

// Reads one of `choices` (name -> value) into *out; the error lists them.
template <typename E>
Status ReadEnum(const YAML::Node& node, const std::string& path,
                const std::vector<std::pair<const char*, E>>& choices, E* out) {
  std::string names;
  for (const auto& [name, value] : choices) {
    if (node.IsScalar() && node.Scalar() == name) {
      *out = value;
      return Status::Ok();
    }
    names += names.empty() ? name : std::string(", ") + name;
  }
  return ErrorAt(node, path, "must be one of: " + names);
}

// A key's reader: gets the key's value node and its path.
using FieldReader =
    std::function<Status(const YAML::Node&, const std::string&)>;
using Fields = std::vector<std::pair<const char*, FieldReader>>;

// Walks a mapping: every key must be one of `fields` and appear once; a
// null node (a key with nothing after it) reads as an empty mapping.
Status ReadMap(const YAML::Node& node, const std::string& path,
               const Fields& fields);

// Field readers for the common cases. The pointers must outlive the reader.
FieldReader Double(double* out, const std::function<bool(double)>& valid,
                   const char* requirement);
FieldReader Int(int* out, int lo, int hi);
FieldReader Int64(int64_t* out, int64_t lo, int64_t hi);
FieldReader Uint64(uint64_t* out);
FieldReader Bool(bool* out);
FieldReader String(std::string* out);
// A list of [min_count, max_count] integers, each in [lo, hi].
FieldReader IntList(std::vector<int64_t>* out, size_t min_count,
                    size_t max_count, int64_t lo, int64_t hi);
// A list of at most `max_count` strings (each as ReadString).
FieldReader StringList(std::vector<std::string>* out, size_t max_count);
template <typename E>
FieldReader Enum(E* out, std::vector<std::pair<const char*, E>> choices) {
  return [=](const YAML::Node& n, const std::string& p) {
    return ReadEnum(n, p, choices, out);
  };
}
// A nested mapping read with `fields`.
FieldReader Map(Fields fields);

}  // namespace flsentry::yaml

#endif  // FLSENTRY_BASE_YAML_READER_H_
