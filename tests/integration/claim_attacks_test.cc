#include "claim_attacks.h"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

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
