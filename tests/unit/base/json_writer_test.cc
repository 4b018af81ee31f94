// AppendCompactJson: the same bytes as nlohmann's compact dump (the state
// file's format must not change with the writer), for every kind of value.
#include "base/json_writer.h"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

namespace flsentry {
namespace {

std::string NlohmannText(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string WriterText(const nlohmann::json& value) {
  std::string out;
  AppendCompactJson(value, &out);
  return out;
}

TEST_CASE("every kind of value is written as nlohmann's dump writes it") {
  nlohmann::json doc = {
      {"null", nullptr},
      {"bools", {true, false}},
      {"ints",
       {0, -1, int64_t{-9223372036854775807LL} - 1,
        uint64_t{18446744073709551615ULL}}},
      {"floats",
       {0.1, -0.0, 1e-300, 1.7976931348623157e308, 2.5, 1e21,
        std::numeric_limits<double>::quiet_NaN(),
        std::numeric_limits<double>::infinity()}},
      {"plain", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJyg+/w=="},
      {"empty string", ""},
      {"escapes",
       "a\"b\\c\nd\te\x01"
       "f\x1f"
       "g\x7f"},
      {"utf-8", "r\xc3\xa9sum\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
      {"invalid utf-8",
       "ab\xff\xfe"
       "cd\xc3"},
      {"key \"with\" quotes\n", 1},
      {"\xc3\xa9t\xc3\xa9", "key not ASCII"},
      {"empty object", nlohmann::json::object()},
      {"empty array", nlohmann::json::array()},
      {"nested", {{"a", {{"b", {1, {2, {3}}, {{"c", "d"}}}}}}}},
  };
  doc["binary"] = nlohmann::json::binary({1, 2, 3});
  CHECK(WriterText(doc) == NlohmannText(doc));
  for (const auto& [key, value] : doc.items()) {
    CAPTURE(key);
    CHECK(WriterText(value) == NlohmannText(value));
  }
}

TEST_CASE("appends to what the string holds") {
  std::string out = "prefix ";
  AppendCompactJson({{"k", "v"}}, &out);
  CHECK(out == "prefix {\"k\":\"v\"}");
}

}  // namespace
}  // namespace flsentry
