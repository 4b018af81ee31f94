// FloatsToBase64 / Base64ToFloats: the state file's embeddings and weights
// must come back bit for bit, in RFC 4648's text, and bad text must be
// refused without quoting it.
#include "base/base64.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace flsentry {
namespace {

uint32_t Bits(float f) {
  uint32_t u = 0;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

float FromBits(uint32_t u) {
  float f = 0;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

TEST_CASE("known values: little-endian binary32 in RFC 4648 text") {
  CHECK(FloatsToBase64({}) == "");
  const std::vector<float> one = {1.0f};  // 00 00 80 3f
  CHECK(FloatsToBase64(one) == "AACAPw==");
  const std::vector<float> two = {1.0f, -2.0f};  // + 00 00 00 c0
  CHECK(FloatsToBase64(two) == "AACAPwAAAMA=");
  const std::vector<float> three = {1.0f, -2.0f, 0.0f};
  CHECK(FloatsToBase64(three) == "AACAPwAAAMAAAAAA");
}

TEST_CASE("every float comes back bit for bit, at every padding") {
  std::vector<float> values = {0.0f,
                               -0.0f,
                               1e-45f /* denormal */,
                               std::numeric_limits<float>::max(),
                               std::numeric_limits<float>::infinity(),
                               FromBits(0x7fc12345u) /* NaN
with a payload */,
                               -3.25f,
                               0.1f};
  for (size_t n = 0; n <= values.size(); ++n) {
    CAPTURE(n);
    const std::vector<float> part(values.begin(), values.begin() + n);
    const std::string text = FloatsToBase64(part);
    CHECK(text.size() == (n * 4 + 2) / 3 * 4);
    auto back = Base64ToFloats(text, n);
    REQUIRE(back.ok());
    REQUIRE(back->size() == n);
    for (size_t i = 0; i < n; ++i) CHECK(Bits((*back)[i]) == Bits(part[i]));
  }
}

TEST_CASE("bad text is refused with a reason, never echoed") {
  const std::vector<float> two = {1.0f, -2.0f};
  const std::string good = FloatsToBase64(two);
  auto wrong_count = Base64ToFloats(good, 3);
  REQUIRE_FALSE(wrong_count.ok());
  CHECK(wrong_count.status().message().find("wrong length") !=
        std::string::npos);
  CHECK_FALSE(Base64ToFloats(good, 1).ok());  // more data than expected
  CHECK_FALSE(Base64ToFloats(good.substr(1), 2).ok());  // not 4k characters
  std::string bad = good;
  bad[2] = '*';
  auto invalid = Base64ToFloats(bad, 2);
  REQUIRE_FALSE(invalid.ok());
  CHECK(invalid.status().message() == "invalid base64 data");
  CHECK_FALSE(Base64ToFloats("AA=AAACAPwAA", 2).ok());  // '=' inside
  CHECK_FALSE(Base64ToFloats("AACAPw=A", 1).ok());      // data after '='
}

}  // namespace
}  // namespace flsentry
