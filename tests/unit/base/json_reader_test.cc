#include "base/json_reader.h"

#include <doctest/doctest.h>

#include <string>

using namespace flsentry;

TEST_CASE("strict JSON: valid documents parse as nlohmann would") {
  auto j = ParseJsonStrict(R"({"a": 1, "b": {"c": [1, {"d": 2}]}, "e": "x"})");
  REQUIRE(j.ok());
  CHECK((*j)["b"]["c"][1]["d"] == 2);
  CHECK(ParseJsonStrict("[1, 2, 3]").ok());
  // The same key in different objects is fine.
  CHECK(ParseJsonStrict(R"({"a": {"k": 1}, "b": {"k": 2}, "k": 3})").ok());
  CHECK(ParseJsonStrict(R"([{"k": 1}, {"k": 2}])").ok());
}

TEST_CASE("strict JSON: a key given twice is an error naming it and where") {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {R"({"w": 1, "w": 2})", "key \"w\" given twice in /"},
      {R"({"t": {"dtype": "F32", "dtype": "F16"}})",
       "key \"dtype\" given twice in /t"},
      {R"({"clients": [{"id": "a", "id": "b"}]})",
       "key \"id\" given twice in /clients"},
      {"{\"\\u0000x\": 1, \"\\u0000x\": 2}",
       "key \"\\u0000x\" given twice in /"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    auto j = ParseJsonStrict(c.text);
    REQUIRE_FALSE(j.ok());
    CHECK(j.status().code() == ErrorCode::kCorrupt);
    CHECK(j.status().message() == c.message);
  }
}

TEST_CASE("strict JSON: malformed text is kCorrupt, never an exception") {
  for (const char* text : {"", "{", "{\"a\":}", "[1,]", "\xff"}) {
    CAPTURE(text);
    auto j = ParseJsonStrict(text);
    REQUIRE_FALSE(j.ok());
    CHECK(j.status().message().find("not valid JSON: parse error") == 0);
    CHECK(j.status().message().find("json.exception") == std::string::npos);
  }
}
