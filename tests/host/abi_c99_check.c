/* Compiled with -std=c99 -pedantic -Werror: the ABI header is strict C99,
 * and its layout is the same as seen from C++ (abi_layout_test.cc). */
#include <stddef.h>

#include "aggfilter.h"

#define AGGF_C99_ASSERT(name, cond) typedef char name[(cond) ? 1 : -1]

AGGF_C99_ASSERT(tensor_size, sizeof(aggf_tensor) == 48);
AGGF_C99_ASSERT(update_size, sizeof(aggf_update) == 40);
AGGF_C99_ASSERT(round_size, sizeof(aggf_round) == 40);
AGGF_C99_ASSERT(decision_size, sizeof(aggf_decision) == 80);
AGGF_C99_ASSERT(callbacks_size, sizeof(aggf_host_callbacks) == 24);
AGGF_C99_ASSERT(api_size, sizeof(aggf_api) == 112);
AGGF_C99_ASSERT(api_begin, offsetof(aggf_api, on_round_begin) == 88);
AGGF_C99_ASSERT(api_end, offsetof(aggf_api, on_round_end) == 104);
AGGF_C99_ASSERT(begin_size, sizeof(aggf_round_begin) == 32);
AGGF_C99_ASSERT(api_details, offsetof(aggf_api, on_round_details) == 80);
AGGF_C99_ASSERT(details_size, sizeof(aggf_decision_details) == 16);
AGGF_C99_ASSERT(api_filter, offsetof(aggf_api, on_round_filter) == 56);

const aggf_api* aggf_c99_check_use(void);
const aggf_api* aggf_c99_check_use(void) {
  aggf_decision d;
  d.action = AGGF_ACTION_ACCEPT;
  d.flags = AGGF_FLAG_NONFINITE | AGGF_FLAG_QUARANTINED;
  (void)d;
  return NULL;
}
