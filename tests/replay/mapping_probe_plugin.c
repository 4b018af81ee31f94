/* mapping_probe_plugin.c — a test plugin that reports, as every decision's
 * score, the most memory mappings of the host's update files it saw at
 * once: the lines of /proc/self/maps that contain the config text (a
 * directory), counted in on_round_filter, or in every on_round_add and
 * kept as the largest. It accepts every update. Built twice: as ABI 1.0
 * (one call per round) and, with -DPROBE_ON_ARRIVAL, as ABI 1.2 (rounds on
 * arrival). Lets a test see how many update files a host holds mapped
 * while the plugin reads them. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggfilter.h"

struct aggf_instance {
  char marker[1024];
  uint32_t added;
  uint32_t most_mapped;
};

static aggf_status create(const char* config, uint64_t len,
                          const char* base_dir, const aggf_host_callbacks* host,
                          aggf_instance** out, char* err, uint32_t err_size) {
  aggf_instance* inst;
  (void)base_dir, (void)host;
  if (!out) return AGGF_ERR_INVALID_ARGUMENT;
  if (len == 0 || len >= sizeof inst->marker) {
    if (err && err_size) snprintf(err, err_size, "config: a directory path");
    return AGGF_ERR_CONFIG;
  }
  inst = calloc(1, sizeof *inst);
  if (!inst) return AGGF_ERR_OUT_OF_MEMORY;
  memcpy(inst->marker, config, len);
  *out = inst;
  return AGGF_OK;
}

static void destroy(aggf_instance* inst) { free(inst); }
static const char* last_error(const aggf_instance* inst) {
  (void)inst;
  return "";
}

/* Mappings of this process whose line names a path containing the marker. */
static uint32_t count_mapped(const aggf_instance* inst) {
  char line[4096];
  uint32_t count = 0;
  FILE* maps = fopen("/proc/self/maps", "r");
  if (!maps) return 0;
  while (fgets(line, sizeof line, maps)) {
    if (strstr(line, inst->marker)) ++count;
  }
  fclose(maps);
  return count;
}

static void decide_all(uint32_t mapped, aggf_decision* out, uint32_t n) {
  uint32_t u;
  for (u = 0; u < n; ++u) {
    memset(&out[u], 0, sizeof out[u]);
    out[u].action = AGGF_ACTION_ACCEPT;
    out[u].weight = 1.0;
    out[u].score = mapped;
    out[u].threshold = 0;
    strcpy(out[u].reason, "probe");
  }
}

static aggf_status filter(aggf_instance* inst, const aggf_round* round,
                          aggf_decision* out, uint32_t n) {
  if (!round || n != round->num_updates) return AGGF_ERR_INVALID_ARGUMENT;
  decide_all(count_mapped(inst), out, n);
  return AGGF_OK;
}

#ifdef PROBE_ON_ARRIVAL
static aggf_status round_begin(aggf_instance* inst,
                               const aggf_round_begin* begin) {
  if (!begin) return AGGF_ERR_INVALID_ARGUMENT;
  inst->added = 0;
  inst->most_mapped = 0;
  return AGGF_OK;
}

static aggf_status round_add(aggf_instance* inst, const aggf_update* update) {
  uint32_t mapped;
  if (!update) return AGGF_ERR_INVALID_ARGUMENT;
  mapped = count_mapped(inst);
  if (mapped > inst->most_mapped) inst->most_mapped = mapped;
  ++inst->added;
  return AGGF_OK;
}

static aggf_status round_end(aggf_instance* inst, aggf_decision* out,
                             uint32_t n) {
  if (n != inst->added) return AGGF_ERR_INVALID_ARGUMENT;
  decide_all(inst->most_mapped, out, n);
  return AGGF_OK;
}
#endif

static aggf_status save(aggf_instance* inst, aggf_callback_write write,
                        void* user) {
  (void)inst, (void)write, (void)user;
  return AGGF_OK;
}

static aggf_status load(aggf_instance* inst, const uint8_t* data,
                        uint64_t size) {
  (void)inst, (void)data, (void)size;
  return AGGF_OK;
}

#ifdef PROBE_ON_ARRIVAL
static const aggf_api kApi = {sizeof(aggf_api),
                              1,
                              2,
                              0,
                              "mapping-probe",
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
static const aggf_api kApi = {offsetof(aggf_api, on_round_details),
                              1,
                              0,
                              0,
                              "mapping-probe",
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
  if (err && err_size) snprintf(err, err_size, "ABI 1 only");
  return NULL;
}
