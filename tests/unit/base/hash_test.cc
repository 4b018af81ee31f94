// Tests of hash.h: deterministic, and every input bit matters.
#include "base/hash.h"

#include <doctest/doctest.h>

namespace flsentry {
namespace {

uint64_t Of(std::string_view a, std::string_view b) {
  Hasher h;
  h.Add(a);
  h.Add(b);
  return h.value();
}

TEST_CASE("the same calls give the same value; boundaries and bits count") {
  CHECK(Of("ab", "c") == Of("ab", "c"));
  CHECK(Of("ab", "c") != Of("a", "bc"));
  CHECK(Of("abcdefgh", "") != Of("abcdefgi", ""));
  Hasher zero, neg;
  zero.Add(0.0);
  neg.Add(-0.0);
  CHECK(zero.value() != neg.value());  // bits, not numeric equality
  CHECK(Hasher(1).value() != Hasher(2).value());
  // Pinned: fingerprints are stored in state files across versions.
  Hasher pinned;
  pinned.Add(uint64_t{42});
  pinned.Add(std::string_view("flsentry"));
  CHECK(pinned.value() == 521934761738448671ULL);
}

}  // namespace
}  // namespace flsentry
