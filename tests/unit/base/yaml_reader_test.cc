#include "base/yaml_reader.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

using namespace flsentry;
namespace y = flsentry::yaml;

namespace {

// Reads `text` against `fields`; the error message, or "" when it read.
std::string Read(const std::string& text, const y::Fields& fields) {
  auto doc = y::LoadDocument(text, 1 << 16);
  if (!doc.ok()) return doc.status().message();
  Status s = y::ReadMap(*doc, "", fields);
  return s.ok() ? "" : s.message();
}

}  // namespace

TEST_CASE("strict YAML: scalars of the right type read") {
  int64_t i = 0;
  uint64_t u = 0;
  bool b = false;
  std::string s;
  double d = 0;
  const y::Fields fields = {
      {"i", y::Int64(&i, -5, 5)},
      {"u", y::Uint64(&u)},
      {"b", y::Bool(&b)},
      {"s", y::String(&s)},
      {"d", y::Double(
                &d, [](double v) { return v > 0; }, "must be > 0")},
  };
  CHECK(Read("i: -5\nu: 18446744073709551615\nb: yes\ns: x\nd: 0.5\n",
             fields) == "");
  CHECK(i == -5);
  CHECK(u == UINT64_MAX);
  CHECK(b);
  CHECK(s == "x");
  CHECK(d == 0.5);
}

TEST_CASE("strict YAML: a quoted number says it is a quoted string") {
  double d = 0;
  const y::Fields fields = {
      {"d", y::Double(
                &d, [](double) { return true; }, "")},
  };
  CHECK(Read("d: \"0.5\"\n", fields) ==
        "d: expected a number, got the quoted string \"0.5\"; write it "
        "without quotes (line 1, column 4)");
  CHECK(Read("d: '.inf'\n", fields) ==
        "d: expected a number, got the quoted string \".inf\" (line 1, "
        "column 4)");
  CHECK(Read("d: lots\n", fields) ==
        "d: expected a number, got 'lots' (line 1, column 4)");
  CHECK(d == 0);
}

TEST_CASE("strict YAML: every refusal names the key path, line and column") {
  int64_t i = 0;
  uint64_t u = 0;
  bool b = false;
  std::vector<int64_t> sizes;
  std::vector<std::string> names;
  const y::Fields fields = {
      {"i", y::Int64(&i, 0, 9)},
      {"u", y::Uint64(&u)},
      {"b", y::Bool(&b)},
      {"m", y::Map({{"sizes", y::IntList(&sizes, 1, 3, 1, 100)},
                    {"names", y::StringList(&names, 2)}})},
  };
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"i: \"5\"\n",
       "i: expected an integer, got the quoted string \"5\"; write it without "
       "quotes (line 1, column 4)"},
      {"i: 'x'\n",
       "i: expected an integer, got the quoted string \"x\" (line 1, column "
       "4)"},
      {"u: \"7\"\n",
       "u: expected an integer, got the quoted string \"7\"; write it without "
       "quotes"},
      {"i: 10\n", "i: must be in [0, 9] (line 1, column 4)"},
      {"i: 1\ni: 2\n", "i: key given twice (line 2, column 1)"},
      {"j: 1\n", "j: unknown key (known here: i, u, b, m) (line 1, column 1)"},
      {"u: -1\n", "u: expected a non-negative integer, got '-1'"},
      {"u: 18446744073709551616\n", "u: integer out of range [0, 2^64 - 1]"},
      {"b: 'true'\n",
       "b: expected true or false, got the quoted string \"true\"; write it "
       "without quotes (line 1, column 4)"},
      {"m:\n  sizes: []\n", "m.sizes: expected a list of 1 to 3 integers"},
      {"m:\n  sizes: [1, 2, 3, 4]\n",
       "m.sizes: expected a list of 1 to 3 integers"},
      {"m:\n  sizes: [1, 0]\n", "m.sizes[1]: must be in [1, 100]"},
      {"m:\n  names: [a, b, c]\n",
       "m.names: expected a list of at most 2 strings"},
      {"m:\n  names: [[a]]\n", "m.names[0]: expected a string"},
      {"i: 1\n---\ni: 2\n", "holds more than one YAML document"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    const std::string message = Read(c.text, fields);
    CAPTURE(message);
    CHECK(message.find(c.message) != std::string::npos);
  }
  // A refused list leaves the value it had.
  sizes = {7};
  CHECK(Read("m:\n  sizes: [1, 0]\n", fields) != "");
  CHECK(sizes == std::vector<int64_t>{7});
  CHECK(Read("m:\n  sizes: [1, 2]\n  names: [a]\n", fields) == "");
  CHECK(sizes == std::vector<int64_t>{1, 2});
  CHECK(names == std::vector<std::string>{"a"});
}
