// The example from host_api/README.md: load a filter plugin, filter one
// round of two updates, and print the decisions.
// Usage: aggfilter_example_host PLUGIN.so [POLICY.yaml]
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>

#include "aggfilter_host.hpp"

int main(int argc, char** argv) try {
  if (argc < 2)
    return std::cerr << "usage: " << argv[0] << " PLUGIN.so [POLICY.yaml]\n", 2;
  std::stringstream policy;
  if (argc > 2) policy << std::ifstream(argv[2]).rdbuf();
  aggfilter::Plugin plugin(argv[1]);  // dlopen + version check
  aggfilter::Instance filter = plugin.create(policy.str());

  std::vector<int64_t> shape = {4};  // one tensor "w" per update
  float honest[4] = {0.1f, -0.2f, 0.05f, 0.0f};
  float broken[4] = {0.1f, std::nanf(""), 0.0f, 0.0f};  // contains a NaN
  aggf_tensor t1 = aggfilter::make_tensor("w", AGGF_DTYPE_F32, shape, honest);
  aggf_tensor t2 = aggfilter::make_tensor("w", AGGF_DTYPE_F32, shape, broken);
  aggf_update updates[2] = {{"alice", 5, AGGF_UPDATE_DELTA, 600, &t1, 1, 0},
                            {"bob", 3, AGGF_UPDATE_DELTA, 600, &t2, 1, 0}};
  aggf_round round{};
  round.struct_size = sizeof round;
  round.round = 1;
  round.updates = updates;
  round.num_updates = 2;

  for (const aggfilter::Decision& d : filter.filter(round)) {
    std::cout << aggfilter::action_name(d.action) << " weight=" << d.weight
              << " score=" << d.score << " reason=" << d.reason << "\n";
  }
  return 0;
} catch (const aggfilter::Error& e) {
  std::cerr << "filter error: " << e.what() << "\n";
  return 1;
}
