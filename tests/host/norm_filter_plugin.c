/* norm_filter_plugin.c — a second aggregation filter, unrelated to
 * flsentry, implementing host_api/aggfilter.h in plain C99: drop updates
 * whose L2 norm exceeds `max_norm` (the whole config text is that number,
 * default 1.0). f32 contiguous tensors only. Built only for tests, twice:
 * as a plugin of ABI 1.0 (its table ends there), and with
 * -DNORM_FILTER_ON_ARRIVAL as one of ABI 1.2 that takes rounds on arrival
 * (keeping one norm per update added, not the update) and leaves 1.1's
 * on_round_details NULL. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggfilter.h"

struct aggf_instance {
  double max_norm;
  char error[128];
  /* The round open on arrival: the norm of each update added. */
  int round_open;
  double* norms;
  uint32_t num_norms, capacity;
};

static aggf_status create(const char* config, uint64_t len,
                          const char* base_dir, const aggf_host_callbacks* host,
                          aggf_instance** out, char* err, uint32_t err_size) {
  char text[64] = "1.0";
  char* end;
  aggf_instance* inst;
  (void)base_dir, (void)host;
  if (!out) return AGGF_ERR_INVALID_ARGUMENT;
  if (len > 0 && len < sizeof text) memcpy(text, config, len), text[len] = 0;
  inst = calloc(1, sizeof *inst);
  if (!inst) return AGGF_ERR_OUT_OF_MEMORY;
  inst->max_norm = strtod(text, &end);
  if (end == text || !(inst->max_norm > 0)) {
    if (err && err_size)
      snprintf(err, err_size, "max_norm must be a positive number");
    free(inst);
    return AGGF_ERR_CONFIG;
  }
  *out = inst;
  return AGGF_OK;
}

static void destroy(aggf_instance* inst) {
  if (inst) free(inst->norms);
  free(inst);
}
static const char* last_error(const aggf_instance* inst) { return inst->error; }

static double update_norm(const aggf_update* up) {
  double sum = 0;
  uint32_t t;
  int64_t i, k;
  for (t = 0; t < up->num_tensors; ++t) {
    const aggf_tensor* ten = &up->tensors[t];
    int64_t numel = 1;
    for (k = 0; k < ten->rank; ++k) numel *= ten->shape[k];
    for (i = 0; ten->dtype == AGGF_DTYPE_F32 && i < numel; ++i) {
      double v = ((const float*)ten->data)[i];
      sum += v * v;
    }
  }
  return sqrt(sum);
}

static void decide(const aggf_instance* inst, double norm, aggf_decision* out) {
  memset(out, 0, sizeof *out);
  out->score = norm;
  out->threshold = inst->max_norm;
  out->action = norm > inst->max_norm ? AGGF_ACTION_DROP : AGGF_ACTION_ACCEPT;
  out->weight = out->action == AGGF_ACTION_DROP ? 0.0 : 1.0;
  strcpy(out->reason, out->action == AGGF_ACTION_DROP ? "norm" : "ok");
}

static aggf_status filter(aggf_instance* inst, const aggf_round* round,
                          aggf_decision* out, uint32_t n) {
  uint32_t u;
  if (!round || n != round->num_updates) return AGGF_ERR_INVALID_ARGUMENT;
  for (u = 0; u < n; ++u)
    decide(inst, update_norm(&round->updates[u]), &out[u]);
  return AGGF_OK;
}

#ifdef NORM_FILTER_ON_ARRIVAL
static aggf_status round_begin(aggf_instance* inst,
                               const aggf_round_begin* begin) {
  if (!begin) return AGGF_ERR_INVALID_ARGUMENT;
  inst->round_open = 1;
  inst->num_norms = 0;
  return AGGF_OK;
}

static aggf_status round_add(aggf_instance* inst, const aggf_update* update) {
  if (!update || !inst->round_open) return AGGF_ERR_INVALID_ARGUMENT;
  if (inst->num_norms == inst->capacity) {
    uint32_t grown = inst->capacity ? 2 * inst->capacity : 64;
    double* norms = realloc(inst->norms, grown * sizeof *norms);
    if (!norms) return AGGF_ERR_OUT_OF_MEMORY;
    inst->norms = norms;
    inst->capacity = grown;
  }
  inst->norms[inst->num_norms++] = update_norm(update);
  return AGGF_OK;
}

static aggf_status round_end(aggf_instance* inst, aggf_decision* out,
                             uint32_t n) {
  uint32_t u;
  if (!inst->round_open || n != inst->num_norms)
    return AGGF_ERR_INVALID_ARGUMENT;
  for (u = 0; u < n; ++u) decide(inst, inst->norms[u], &out[u]);
  inst->round_open = 0;
  return AGGF_OK;
}
#endif

static aggf_status save(aggf_instance* inst, aggf_callback_write write,
                        void* user) {
  return write(user, (const uint8_t*)&inst->max_norm, sizeof inst->max_norm) ==
                 0
             ? AGGF_OK
             : AGGF_ERR_STATE;
}

static aggf_status load(aggf_instance* inst, const uint8_t* data,
                        uint64_t size) {
  if (size != sizeof inst->max_norm) return AGGF_ERR_STATE;
  memcpy(&inst->max_norm, data, size);
  return AGGF_OK;
}

#ifdef NORM_FILTER_ON_ARRIVAL
/* ABI 1.2: the whole table, on_round_details left NULL (convention 1). */
static const aggf_api kApi = {sizeof(aggf_api),
                              1,
                              2,
                              0,
                              "norm-filter",
                              "1.2",
                              create,
                              destroy,
                              last_error,
                              filter,
                              save,
                              load,
                              NULL,
                              round_begin,
                              round_add,
                              round_end};
#else
/* A plugin of ABI 1.0: its table ends where 1.0's did (struct_size says
 * so), so hosts must not call later entries (convention 1). */
static const aggf_api kApi = {offsetof(aggf_api, on_round_details),
                              1,
                              0,
                              0,
                              "norm-filter",
                              "1.0",
                              create,
                              destroy,
                              last_error,
                              filter,
                              save,
                              load,
                              NULL,
                              NULL,
                              NULL,
                              NULL};
#endif

const aggf_api* aggf_get_api(uint32_t abi_major, char* err, uint32_t err_size) {
  if (abi_major == 1) return &kApi;
  if (err && err_size) snprintf(err, err_size, "norm-filter speaks ABI 1 only");
  return NULL;
}
