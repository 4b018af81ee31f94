#include "base/status.h"

#include <doctest/doctest.h>

#include <memory>
#include <string>

using namespace flsentry;

namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgument(std::to_string(x) + " is odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  FLS_ASSIGN_OR_RETURN(int half, Half(x));
  FLS_ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

Status CheckEven(int x) {
  FLS_RETURN_IF_ERROR(Half(x).status());
  return Status::Ok();
}

}  // namespace

TEST_CASE("Status: OK by default, code and message otherwise, context") {
  CHECK(Status().ok());
  CHECK(Status::Ok().code() == ErrorCode::kOk);
  const Status s = Corrupt("bad bytes");
  CHECK_FALSE(s.ok());
  CHECK(s.code() == ErrorCode::kCorrupt);
  CHECK(s.WithContext("file.pth").message() == "file.pth: bad bytes");
  CHECK(s.WithContext("file.pth").code() == ErrorCode::kCorrupt);
  CHECK(Status::Ok().WithContext("x").ok());
}

TEST_CASE("Result: a value, or an error; the macros return the first error") {
  CHECK(Half(4).ok());
  CHECK(Half(4).value() == 2);
  CHECK(Half(4).status().ok());
  CHECK(Half(3).status().message() == "3 is odd");
  CHECK(Quarter(8).value() == 2);
  CHECK(Quarter(6).status().message() == "3 is odd");
  CHECK(CheckEven(4).ok());
  CHECK(CheckEven(5).code() == ErrorCode::kInvalidArgument);
  Result<std::unique_ptr<int>> owned = std::make_unique<int>(7);
  REQUIRE(owned.ok());
  CHECK(*std::move(owned).value() == 7);
}

TEST_CASE("Result: an OK status without a value is an internal error") {
  const Result<int> r = Status::Ok();
  CHECK_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kInternal);
  CHECK(r.status().message().find("OK status") != std::string::npos);
}

TEST_CASE("Result: value() on an error throws BadResultAccess") {
  Result<int> r = NotFound("no such tensor");
  CHECK_THROWS_AS(r.value(), BadResultAccess);
  CHECK_THROWS_WITH(r.value(), "Result::value() on an error: no such tensor");
  const Result<int>& cr = r;
  CHECK_THROWS_AS(cr.value(), BadResultAccess);
  CHECK_THROWS_AS(std::move(r).value(), BadResultAccess);
}
