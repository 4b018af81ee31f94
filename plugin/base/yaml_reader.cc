#include "base/yaml_reader.h"

#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <set>
#include <sstream>

namespace flsentry::yaml {
namespace {

constexpr size_t kMaxStringBytes = 4096;

// A quoted scalar ("1", '1') carries the non-specific tag "!".
bool IsQuoted(const YAML::Node& node) { return node.Tag() == "!"; }

// The scalar as the message shows it: in double quotes, cut at 40 bytes,
// bytes outside printable ASCII as '?'.
std::string Shown(const std::string& scalar) {
  std::string shown = scalar.substr(0, 40);
  for (char& c : shown) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return "\"" + shown + (scalar.size() > 40 ? "...\"" : "\"");
}

// The refusal of a quoted scalar where `expected` (e.g. "a number") was
// wanted; `reads_unquoted`: its text is a valid value once unquoted.
Status QuotedRefusal(const YAML::Node& node, const std::string& path,
                     const std::string& expected, bool reads_unquoted) {
  std::string problem = "expected " + expected + ", got the quoted string " +
                        Shown(node.Scalar());
  if (reads_unquoted) problem += "; write it without quotes";
  return ErrorAt(node, path, problem);
}

// Documents in `text`, counting up to 2. (YAML::LoadAll is not used: on
// some malformed input yaml-cpp 0.7 reports empty documents without end,
// found by tests/fuzz/policy_yaml_fuzz.cc.) Throws YAML::Exception.
int CountDocuments(const std::string& text) {
  struct Ignore : YAML::EventHandler {
    void OnDocumentStart(const YAML::Mark&) override {}
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}
  } ignore;
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  int documents = 0;
  while (documents < 2 && parser.HandleNextDocument(ignore)) ++documents;
  return documents;
}

std::string SizeText(size_t bytes) {
  if (bytes % (size_t{1} << 20) == 0) {
    return std::to_string(bytes >> 20) + " MiB";
  }
  return std::to_string(bytes) + " bytes";
}

}  // namespace

Result<YAML::Node> LoadDocument(std::string_view yaml_text, size_t max_bytes) {
  if (yaml_text.size() > max_bytes) {
    return ConfigError("larger than " + SizeText(max_bytes));
  }
  try {
    const std::string text(yaml_text);
    YAML::Node root = YAML::Load(text);
    if (CountDocuments(text) > 1) {
      return ConfigError("holds more than one YAML document");
    }
    return root;
  } catch (const YAML::Exception& e) {
    std::string message = "invalid YAML: " + e.msg;
    if (!e.mark.is_null()) {
      message += " (line " + std::to_string(e.mark.line + 1) + ", column " +
                 std::to_string(e.mark.column + 1) + ")";
    }
    return ConfigError(std::move(message));
  } catch (const std::exception& e) {
    return ConfigError(std::string("could not be read: ") + e.what());
  }
}

Status ErrorAt(const YAML::Node& node, const std::string& path,
               const std::string& problem) {
  std::string message = path + ": " + problem;
  const YAML::Mark mark = node.Mark();
  if (!mark.is_null()) {
    message += " (line " + std::to_string(mark.line + 1) + ", column " +
               std::to_string(mark.column + 1) + ")";
  }
  return ConfigError(std::move(message));
}

std::string Join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

Status ReadDouble(const YAML::Node& node, const std::string& path,
                  double* out) {
  if (!node.IsScalar()) return ErrorAt(node, path, "expected a number");
  std::string text = node.Scalar();
  if (!text.empty() && text[0] == '+') text.erase(0, 1);
  double value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  const bool parsed = ec == std::errc() && ptr == end && !text.empty();
  if (IsQuoted(node)) {
    return QuotedRefusal(node, path, "a number",
                         parsed && std::isfinite(value));
  }
  if (!parsed) {
    return ErrorAt(node, path,
                   "expected a number, got '" + node.Scalar() + "'");
  }
  if (!std::isfinite(value)) return ErrorAt(node, path, "must be finite");
  *out = value;
  return Status::Ok();
}

Status ReadInt(const YAML::Node& node, const std::string& path, int64_t lo,
               int64_t hi, int64_t* out) {
  if (!node.IsScalar()) return ErrorAt(node, path, "expected an integer");
  std::string text = node.Scalar();
  if (!text.empty() && text[0] == '+') text.erase(0, 1);
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (IsQuoted(node)) {
    return QuotedRefusal(node, path, "an integer",
                         ec == std::errc() && ptr == end && !text.empty());
  }
  if (ec == std::errc::result_out_of_range) {
    return ErrorAt(node, path, "integer out of range");
  }
  if (ec != std::errc() || ptr != end || text.empty()) {
    return ErrorAt(node, path,
                   "expected an integer, got '" + node.Scalar() + "'");
  }
  if (value < lo || value > hi) {
    return ErrorAt(
        node, path,
        "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  *out = value;
  return Status::Ok();
}

Status ReadUint64(const YAML::Node& node, const std::string& path,
                  uint64_t* out) {
  if (!node.IsScalar()) return ErrorAt(node, path, "expected an integer");
  const std::string& text = node.Scalar();
  uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (IsQuoted(node)) {
    return QuotedRefusal(node, path, "an integer",
                         ec == std::errc() && ptr == end && !text.empty());
  }
  if (ec == std::errc::result_out_of_range) {
    return ErrorAt(node, path, "integer out of range [0, 2^64 - 1]");
  }
  if (ec != std::errc() || ptr != end || text.empty()) {
    return ErrorAt(node, path,
                   "expected a non-negative integer, got '" + text + "'");
  }
  *out = value;
  return Status::Ok();
}

Status ReadBool(const YAML::Node& node, const std::string& path, bool* out) {
  if (!node.IsScalar()) return ErrorAt(node, path, "expected true or false");
  std::string text = node.Scalar();
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (IsQuoted(node)) {
    const bool reads = text == "true" || text == "yes" || text == "on" ||
                       text == "false" || text == "no" || text == "off";
    return QuotedRefusal(node, path, "true or false", reads);
  }
  if (text == "true" || text == "yes" || text == "on") {
    *out = true;
  } else if (text == "false" || text == "no" || text == "off") {
    *out = false;
  } else {
    return ErrorAt(node, path,
                   "expected true or false, got '" + node.Scalar() + "'");
  }
  return Status::Ok();
}

Status ReadString(const YAML::Node& node, const std::string& path,
                  std::string* out) {
  if (!node.IsScalar()) return ErrorAt(node, path, "expected a string");
  if (node.Scalar().size() > kMaxStringBytes) {
    return ErrorAt(node, path, "longer than 4096 bytes");
  }
  if (node.Scalar().find('\0') != std::string::npos) {
    return ErrorAt(node, path, "contains a NUL character");
  }
  *out = node.Scalar();
  return Status::Ok();
}

Status CheckRange(bool ok, const YAML::Node& node, const std::string& path,
                  const char* requirement) {
  return ok ? Status::Ok() : ErrorAt(node, path, requirement);
}

// Walks a mapping: every key must be one of `fields` and appear once. A null
// node (a key with nothing after it) reads as an empty mapping.
Status ReadMap(const YAML::Node& node, const std::string& path,
               const Fields& fields) {
  if (node.IsNull()) return Status::Ok();
  if (!node.IsMap()) {
    return ErrorAt(node, path.empty() ? "(document)" : path,
                   "expected a mapping of keys");
  }
  std::set<std::string> seen;
  for (const auto& entry : node) {
    const YAML::Node& key = entry.first;
    if (!key.IsScalar()) {
      return ErrorAt(key, path.empty() ? "(document)" : path,
                     "keys must be plain strings");
    }
    const std::string& name = key.Scalar();
    const std::string key_path = Join(path, name);
    auto field = std::find_if(fields.begin(), fields.end(),
                              [&](const auto& f) { return name == f.first; });
    if (field == fields.end()) {
      std::string known;
      for (const auto& f : fields) {
        known += known.empty() ? f.first : std::string(", ") + f.first;
      }
      return ErrorAt(key, key_path, "unknown key (known here: " + known + ")");
    }
    if (!seen.insert(name).second) {
      return ErrorAt(key, key_path, "key given twice");
    }
    FLS_RETURN_IF_ERROR(field->second(entry.second, key_path));
  }
  return Status::Ok();
}

FieldReader Double(double* out, const std::function<bool(double)>& valid,
                   const char* requirement) {
  return [=](const YAML::Node& n, const std::string& p) {
    FLS_RETURN_IF_ERROR(ReadDouble(n, p, out));
    return CheckRange(valid(*out), n, p, requirement);
  };
}

FieldReader Int(int* out, int lo, int hi) {
  return [=](const YAML::Node& n, const std::string& p) {
    int64_t value = 0;
    FLS_RETURN_IF_ERROR(ReadInt(n, p, lo, hi, &value));
    *out = static_cast<int>(value);
    return Status::Ok();
  };
}

FieldReader Int64(int64_t* out, int64_t lo, int64_t hi) {
  return [=](const YAML::Node& n, const std::string& p) {
    return ReadInt(n, p, lo, hi, out);
  };
}

FieldReader Uint64(uint64_t* out) {
  return [=](const YAML::Node& n, const std::string& p) {
    return ReadUint64(n, p, out);
  };
}

FieldReader IntList(std::vector<int64_t>* out, size_t min_count,
                    size_t max_count, int64_t lo, int64_t hi) {
  return [=](const YAML::Node& n, const std::string& p) {
    if (!n.IsSequence() || n.size() < min_count || n.size() > max_count) {
      return ErrorAt(n, p,
                     "expected a list of " + std::to_string(min_count) +
                         " to " + std::to_string(max_count) + " integers");
    }
    std::vector<int64_t> values(n.size());
    for (size_t i = 0; i < n.size(); ++i) {
      FLS_RETURN_IF_ERROR(
          ReadInt(n[i], p + "[" + std::to_string(i) + "]", lo, hi, &values[i]));
    }
    *out = std::move(values);
    return Status::Ok();
  };
}

FieldReader StringList(std::vector<std::string>* out, size_t max_count) {
  return [=](const YAML::Node& n, const std::string& p) {
    if (!n.IsSequence() || n.size() > max_count) {
      return ErrorAt(n, p,
                     "expected a list of at most " + std::to_string(max_count) +
                         " strings");
    }
    std::vector<std::string> values(n.size());
    for (size_t i = 0; i < n.size(); ++i) {
      FLS_RETURN_IF_ERROR(
          ReadString(n[i], p + "[" + std::to_string(i) + "]", &values[i]));
    }
    *out = std::move(values);
    return Status::Ok();
  };
}

FieldReader Bool(bool* out) {
  return [=](const YAML::Node& n, const std::string& p) {
    return ReadBool(n, p, out);
  };
}

FieldReader String(std::string* out) {
  return [=](const YAML::Node& n, const std::string& p) {
    return ReadString(n, p, out);
  };
}

FieldReader Map(Fields fields) {
  return
      [fields = std::move(fields)](const YAML::Node& n, const std::string& p) {
        return ReadMap(n, p, fields);
      };
}

}  // namespace flsentry::yaml
