// The boundary wrapper: any exception the inside throws, a library's own
// exception types included, becomes a status and a message.
#include "abi/c_guard.h"

#include <doctest/doctest.h>

#include <new>
#include <stdexcept>
#include <string>

using flsentry::CallGuarded;
using flsentry::Status;

// A library's exception type, as yaml-cpp's and nlohmann::json's are.
class LibraryError : public std::exception {
 public:
  const char* what() const noexcept override {
    return "tensor sizes do not match";
  }
};

TEST_CASE("a library's exception becomes AGGF_ERR_INTERNAL with its text") {
  std::string error;
  aggf_status status = CallGuarded(&error, []() -> Status {
    throw LibraryError();
    return Status::Ok();
  });
  CHECK(status == AGGF_ERR_INTERNAL);
  CHECK(error.find("tensor sizes do not match") != std::string::npos);
}

TEST_CASE("every kind of exception is contained") {
  std::string error;
  CHECK(CallGuarded(&error, []() -> Status { throw std::bad_alloc(); }) ==
        AGGF_ERR_OUT_OF_MEMORY);
  CHECK(error == "out of memory");
  CHECK(CallGuarded(&error, []() -> Status {
          throw std::out_of_range("idx");
        }) == AGGF_ERR_INTERNAL);
  CHECK(error.find("idx") != std::string::npos);
  CHECK(CallGuarded(&error, []() -> Status { throw 42; }) == AGGF_ERR_INTERNAL);
  CHECK(error.find("unknown exception") != std::string::npos);
}

TEST_CASE("statuses map to codes and success clears the error") {
  std::string error = "old";
  CHECK(CallGuarded(&error, [] { return flsentry::ConfigError("bad key"); }) ==
        AGGF_ERR_CONFIG);
  CHECK(error == "bad key");
  CHECK(CallGuarded(&error, [] { return flsentry::StateError("x"); }) ==
        AGGF_ERR_STATE);
  CHECK(CallGuarded(&error, [] { return Status::Ok(); }) == AGGF_OK);
  CHECK(error.empty());
}
