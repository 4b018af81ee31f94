#include "claim_attacks.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <string>

namespace flsentry::sim {
namespace {

TEST_CASE("sample_inflation claims factor x the real count, default 100") {
  CHECK(IsClaimAttack("sample_inflation"));
  CHECK_FALSE(IsClaimAttack("sign_flip"));
  auto claimed = ClaimedNumExamples("sample_inflation", {}, 1234);
  REQUIRE(claimed.ok());
  CHECK(*claimed == 123400);
  claimed = ClaimedNumExamples("sample_inflation", {{"factor", 2.5}}, 3);
  REQUIRE(claimed.ok());
  CHECK(*claimed == 8);  // 7.5 rounded
  claimed = ClaimedNumExamples("sample_inflation", {{"factor", 1}}, 0);
  REQUIRE(claimed.ok());
  CHECK(*claimed == 1);  // never a claim of nothing
}

// Property over seeded random factors in [1, 1e6] and counts up to 2^40:
// the claim is round(factor x real) (at least 1, clamped below 2^63), never
// below the real count, and non-decreasing in the real count.
TEST_CASE("sample_inflation's claim: properties over random inputs") {
  std::mt19937_64 rng(20261130);
  std::uniform_real_distribution<double> log_factor(0.0, 6.0);
  std::uniform_int_distribution<uint64_t> count(0, uint64_t{1} << 40);
  for (int i = 0; i < 2000; ++i) {
    const double factor = std::pow(10.0, log_factor(rng));
    const uint64_t real = count(rng);
    const std::map<std::string, double> params = {{"factor", factor}};
    const auto claimed = ClaimedNumExamples("sample_inflation", params, real);
    REQUIRE(claimed.ok());
    const double expected =
        std::max(1.0, std::round(factor * static_cast<double>(real)));
    CHECK(static_cast<double>(*claimed) == doctest::Approx(expected));
    CHECK(*claimed >= std::max<uint64_t>(real, 1));
    const auto next = ClaimedNumExamples("sample_inflation", params, real + 1);
    REQUIRE(next.ok());
    CHECK(*next >= *claimed);
  }
  // The largest inputs stay below 2^63.
  const auto huge =
      ClaimedNumExamples("sample_inflation", {{"factor", kMaxInflationFactor}},
                         std::numeric_limits<uint64_t>::max());
  REQUIRE(huge.ok());
  CHECK(*huge <= uint64_t{9000000000000000000u});
}

TEST_CASE("sample_inflation refuses bad parameters naming them") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const double bad : {0.5, 0.0, -3.0, 2e6, nan}) {
    const Status s = CheckClaimAttack("sample_inflation", {{"factor", bad}});
    CHECK(s.code() == ErrorCode::kConfig);
    CHECK(s.message().find("attack.params.factor") != std::string::npos);
    CHECK(ClaimedNumExamples("sample_inflation", {{"factor", bad}}, 10)
              .status()
              .code() == ErrorCode::kConfig);
  }
  const Status unknown = CheckClaimAttack("sample_inflation", {{"scale", 2}});
  CHECK(unknown.code() == ErrorCode::kConfig);
  CHECK(unknown.message().find("attack.params.scale") != std::string::npos);
  CHECK(CheckClaimAttack("sign_flip", {}).code() ==
        ErrorCode::kInvalidArgument);
  CHECK(CheckClaimAttack("sample_inflation", {{"factor", 1e6}}).ok());
}

}  // namespace
}  // namespace flsentry::sim
