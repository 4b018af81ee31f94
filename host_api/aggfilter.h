/* aggfilter.h — the C interface between a federated-learning server (the
 * host) and an aggregation-filter plugin (a shared object).
 *
 * Before each round's averaging the host hands the plugin every client
 * update of the round; the plugin answers with one decision per update:
 * accept, down-weight (with a multiplier in [0, 1]) or drop. Nothing here is
 * specific to one filter: an autoencoder detector, a norm clipper or a Krum
 * scorer implement the same table.
 *
 * Conventions (every function below follows them):
 *
 *  1. Versioning. The plugin exports exactly one symbol, aggf_get_api(). The
 *     host passes the ABI major version it was compiled against
 *     (AGGF_ABI_MAJOR); the plugin returns its function table for that major
 *     version, or NULL when it cannot serve it. Within a major version the
 *     table only ever grows at its end, and each entry says the minor that
 *     added it ("since 1.N"). A plugin may be older than the host: before
 *     calling an entry added in minor N, the host checks that the plugin's
 *     table has it, `api->struct_size > offsetof(aggf_api, entry)`, and
 *     that it is not NULL (a plugin built against a newer header may leave
 *     entries it does not implement NULL).
 *     Structs the host fills that start with `struct_size` grow the same
 *     way; a plugin accepts such a struct from a host built against an
 *     older minor (fields it lacks read as zero) and from a newer one as
 *     long as the fields this plugin does not know are all zero (else
 *     AGGF_ERR_INVALID_ARGUMENT naming the struct).
 *  2. Naming. Functions the plugin implements start with `on_`; functions the
 *     host provides to the plugin start with `callback_`.
 *  3. Opaque handles. A plugin instance is an `aggf_instance*`; the host never
 *     looks inside. Instances are independent of each other.
 *  4. Ownership. Every pointer parameter carries an OWNERSHIP line. Input is
 *     borrowed: the plugin reads it during the call only and keeps no pointer
 *     to it after returning. Output buffers are allocated by the host. Text
 *     the plugin returns stays owned by the plugin, with the lifetime stated.
 *  5. Errors. Fallible functions return an aggf_status (AGGF_OK == 0). On
 *     failure the instance's last-error text says what went wrong
 *     (on_instance_last_error). No C++ exception, abort() or longjmp ever
 *     crosses this interface.
 *  6. Strings. Text passed in is UTF-8 given as pointer + length in bytes and
 *     need not be NUL-terminated; text passed out is NUL-terminated UTF-8.
 *  7. Types. Fixed-width integers only; every enum is stored as int32_t;
 *     booleans are uint8_t (0 false, anything else true).
 *  8. Threading. Calls on one instance must not overlap (one round at a
 *     time); the host serialises them. Different instances may be used from
 *     different threads at the same time. Host callbacks are invoked only on
 *     the thread that made the call into the plugin, during that call.
 *  9. NULL. A pointer may be NULL only where its parameter says so; a count
 *     of zero allows a NULL array. Destroy functions accept NULL.
 *
 * This header compiles as C99 (-std=c99 -pedantic) and as C++.
 */
#ifndef AGGFILTER_H_
#define AGGFILTER_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header describes. */
#define AGGF_ABI_MAJOR 1
#define AGGF_ABI_MINOR 4

/* The name of the one symbol a plugin exports. */
#define AGGF_ENTRY_SYMBOL "aggf_get_api"

/* ---- Enumerations (stored as int32_t) ---------------------------------- */

typedef int32_t aggf_status;
enum {
  AGGF_OK = 0,
  AGGF_ERR_INVALID_ARGUMENT = 1, /* a NULL pointer, bad count, bad shape... */
  AGGF_ERR_CONFIG = 2,           /* the configuration was refused */
  AGGF_ERR_STATE = 3,            /* saved state could not be loaded */
  AGGF_ERR_ROUND_FAILED = 4,     /* the round cannot be filtered at all */
  AGGF_ERR_OUT_OF_MEMORY = 5,
  AGGF_ERR_INTERNAL = 6, /* a bug in the plugin; the instance stays usable */
  /* Since ABI 1.1: the round's number is refused (see on_round_filter). A
   * host built against 1.0 sees an unknown non-zero status: a failure. */
  AGGF_ERR_ROUND_NUMBER = 7
};

typedef int32_t aggf_dtype;
enum {
  AGGF_DTYPE_F32 = 1, /* IEEE binary32 */
  AGGF_DTYPE_F64 = 2, /* IEEE binary64 */
  AGGF_DTYPE_F16 = 3, /* IEEE binary16 */
  AGGF_DTYPE_BF16 = 4 /* bfloat16: the upper half of a binary32 */
};

typedef int32_t aggf_update_kind;
enum {
  AGGF_UPDATE_DELTA = 0,  /* tensors hold local weights - global weights */
  AGGF_UPDATE_WEIGHTS = 1 /* tensors hold full local weights; the plugin
                             compares them with the round's global model */
};

typedef int32_t aggf_action;
enum {
  AGGF_ACTION_ACCEPT = 0,     /* weight is 1 */
  AGGF_ACTION_DOWNWEIGHT = 1, /* weight in (0, 1): average with
                                 num_examples * weight */
  AGGF_ACTION_DROP = 2        /* weight is 0: leave the update out */
};

typedef int32_t aggf_log_level;
enum {
  AGGF_LOG_DEBUG = 0,
  AGGF_LOG_INFO = 1,
  AGGF_LOG_WARNING = 2,
  AGGF_LOG_ERROR = 3
};

/* Bits of aggf_decision.flags. A decision may carry several. */
/* NaN or Inf inside. */
#define AGGF_FLAG_NONFINITE ((uint32_t)1u << 0)
/* Tensor names or shapes differ from the round's. */
#define AGGF_FLAG_SHAPE_MISMATCH ((uint32_t)1u << 1)
/* Score over the threshold. */
#define AGGF_FLAG_ANOMALOUS ((uint32_t)1u << 2)
/* Norm far larger than the round's. */
#define AGGF_FLAG_NORM_GUARD ((uint32_t)1u << 3)
/* The client is in quarantine. */
#define AGGF_FLAG_QUARANTINED ((uint32_t)1u << 4)
/* The client is on probation. */
#define AGGF_FLAG_PROBATION ((uint32_t)1u << 5)
/* The client is on the policy's allow list. */
#define AGGF_FLAG_ALLOWLISTED ((uint32_t)1u << 6)
/* The client is on the policy's deny list. */
#define AGGF_FLAG_DENYLISTED ((uint32_t)1u << 7)
/* Scoring raised an error. */
#define AGGF_FLAG_SCORE_FAILED ((uint32_t)1u << 8)
/* A fail-safe changed the decision. */
#define AGGF_FLAG_FAILSAFE ((uint32_t)1u << 9)
/* Malformed update input. */
#define AGGF_FLAG_INVALID ((uint32_t)1u << 10)
/* Nearly identical to another update of the round (colluding clients). */
#define AGGF_FLAG_DUPLICATE ((uint32_t)1u << 11)
/* Closer to the round's mean direction than honest updates are (ALIE). */
#define AGGF_FLAG_CENTRAL ((uint32_t)1u << 12)
/* Since 1.1. The client's claimed num_examples is implausible against the
 * round's claims or its own earlier claims; the weight is capped (or the
 * update dropped) per the filter's policy. */
#define AGGF_FLAG_NUM_EXAMPLES ((uint32_t)1u << 13)
/* Since 1.1. Set on every decision of a round in which no update keeps a
 * positive num_examples x weight: there is nothing to average, and the host
 * should keep its global model for this round. */
#define AGGF_FLAG_NO_AVERAGE ((uint32_t)1u << 14)
/* Since 1.1. The update points away from the client's own last accepted
 * update (a reversed direction: sign flip, inner-product manipulation). */
#define AGGF_FLAG_INCONSISTENT ((uint32_t)1u << 15)
/* Since 1.3. The update pulls against the mean direction of the round's
 * other clients with more than the policy allows (its norm, in units of the
 * round's reference norm, times minus its cosine with that direction); its
 * weight is capped so that its pull stays at the limit. */
#define AGGF_FLAG_OPPOSED ((uint32_t)1u << 16)
/* Since 1.4. Much of the update's energy lies in input columns of its first
 * dense layer that the round's other updates leave quiet (the signature of
 * a pixel-trigger backdoor); the update is dropped. */
#define AGGF_FLAG_COLUMN_OUTLIER ((uint32_t)1u << 17)

/* Every flag with its stable name, in bit order. Expand with a macro
 * X(flag, name) to build tables; the names are the ones audit logs and
 * tools print. */
#define AGGF_FLAG_NAMES(X)                      \
  X(AGGF_FLAG_NONFINITE, "nonfinite")           \
  X(AGGF_FLAG_SHAPE_MISMATCH, "shape_mismatch") \
  X(AGGF_FLAG_ANOMALOUS, "anomalous")           \
  X(AGGF_FLAG_NORM_GUARD, "norm_guard")         \
  X(AGGF_FLAG_QUARANTINED, "quarantined")       \
  X(AGGF_FLAG_PROBATION, "probation")           \
  X(AGGF_FLAG_ALLOWLISTED, "allowlisted")       \
  X(AGGF_FLAG_DENYLISTED, "denylisted")         \
  X(AGGF_FLAG_SCORE_FAILED, "score_failed")     \
  X(AGGF_FLAG_FAILSAFE, "failsafe")             \
  X(AGGF_FLAG_INVALID, "invalid")               \
  X(AGGF_FLAG_DUPLICATE, "duplicate")           \
  X(AGGF_FLAG_CENTRAL, "central")               \
  X(AGGF_FLAG_NUM_EXAMPLES, "num_examples")     \
  X(AGGF_FLAG_NO_AVERAGE, "no_average")         \
  X(AGGF_FLAG_INCONSISTENT, "inconsistent")     \
  X(AGGF_FLAG_OPPOSED, "opposed")               \
  X(AGGF_FLAG_COLUMN_OUTLIER, "column_outlier")

/* Largest tensor rank accepted. */
#define AGGF_MAX_RANK 8

/* Size of aggf_decision.reason, including the terminating NUL. */
#define AGGF_REASON_SIZE 48

/* ---- Input of one round (all borrowed, read-only) ---------------------- */

/* One named tensor.
 * OWNERSHIP: every pointer is borrowed from the host for the duration of the
 * call that receives it. */
typedef struct aggf_tensor {
  const char* name; /* UTF-8, name_len bytes, unique within its update */
  uint32_t name_len;
  aggf_dtype dtype;
  int32_t rank;         /* 0 (a scalar) .. AGGF_MAX_RANK */
  uint32_t reserved0;   /* must be 0 */
  const int64_t* shape; /* rank entries, each >= 0; may be NULL iff rank 0 */
  /* rank entries, in elements (not bytes), each >= 0; NULL means contiguous
   * row-major. */
  const int64_t* strides;
  const void* data; /* first element; may be NULL iff the tensor is empty;
                       aligned to its element size */
} aggf_tensor;

/* One client's update. */
typedef struct aggf_update {
  const char* client_id; /* UTF-8, client_id_len bytes, unique in the round.
                            OWNERSHIP: borrowed. */
  uint32_t client_id_len;
  aggf_update_kind kind;
  uint64_t num_examples;      /* examples the client trained on */
  const aggf_tensor* tensors; /* OWNERSHIP: borrowed, num_tensors entries */
  uint32_t num_tensors;
  uint32_t reserved0; /* must be 0 */
} aggf_update;

/* Most updates in one round (2^20). */
#define AGGF_MAX_UPDATES 1048576u

/* One round. Starts with its own size so that it may grow. */
typedef struct aggf_round {
  uint32_t struct_size; /* sizeof(aggf_round) as the host knows it */
  uint32_t num_updates; /* at most AGGF_MAX_UPDATES; more:
                           AGGF_ERR_INVALID_ARGUMENT */
  uint64_t round;       /* round number, increasing from round to round */
  /* The global model the clients started from. REQUIRED when an update has
   * kind AGGF_UPDATE_WEIGHTS; otherwise optional (num_global_tensors may be
   * 0). OWNERSHIP: borrowed. */
  const aggf_tensor* global_tensors;
  uint32_t num_global_tensors;
  uint32_t reserved0;         /* must be 0 */
  const aggf_update* updates; /* OWNERSHIP: borrowed, num_updates entries */
} aggf_round;

/* Since 1.2. The start of a round given on arrival (on_round_begin): the
 * round's number and global model, without its updates. Starts with its
 * own size so that it may grow. */
typedef struct aggf_round_begin {
  uint32_t struct_size; /* sizeof(aggf_round_begin) as the host knows it */
  uint32_t reserved0;   /* must be 0 */
  uint64_t round;       /* as aggf_round.round */
  /* As aggf_round.global_tensors. OWNERSHIP: borrowed, and LONGER than a
   * call: from on_round_begin until the round's on_round_end returns (or
   * the round is closed otherwise, see on_round_begin); the host keeps the
   * array, the names, shapes and data alive and unchanged meanwhile. The
   * plugin needs it to compare AGGF_UPDATE_WEIGHTS updates as they
   * arrive. */
  const aggf_tensor* global_tensors;
  uint32_t num_global_tensors;
  uint32_t reserved1; /* must be 0 */
} aggf_round_begin;

/* ---- Output ------------------------------------------------------------ */

/* One decision. The host allocates an array of these, one per update, in the
 * order of aggf_round.updates; the plugin fills every field. */
typedef struct aggf_decision {
  aggf_action action;
  uint32_t flags;   /* AGGF_FLAG_* bits */
  double weight;    /* multiplier in [0, 1]: 1 accept, 0 drop */
  double score;     /* the filter's anomaly score; NaN when not scored */
  double threshold; /* the score above which the update is anomalous; NaN
                       when no threshold applied */
  char reason[AGGF_REASON_SIZE]; /* NUL-terminated short reason, e.g.
                                    "ok", "nonfinite", "quarantined" */
} aggf_decision;

/* Since 1.1. More about one decision than aggf_decision carries (an array
 * of aggf_decision cannot grow). Starts with its own size so that it may
 * grow: the host sets struct_size to sizeof(aggf_decision_details) as it
 * knows it; the plugin writes at most that many bytes and sets struct_size
 * to the number it wrote. Fields a plugin does not compute are NaN. */
typedef struct aggf_decision_details {
  uint32_t struct_size; /* in: the host's size; out: bytes written */
  uint32_t reserved0;   /* written as 0 */
  /* The largest ratio of the update's signals to the filter's limits for
   * them (for flsentry: score / threshold, norm / norm limit, similarity and
   * centrality against theirs); a signal fires above 1. Comparable across
   * rounds: what to rank updates by. NaN when nothing was judged. */
  double suspicion;
} aggf_decision_details;

/* ---- Host callbacks ---------------------------------------------------- */

/* Services the host offers to the plugin. Starts with its own size. */
typedef struct aggf_host_callbacks {
  uint32_t struct_size; /* sizeof(aggf_host_callbacks) as the host knows it */
  uint32_t reserved0;   /* must be 0 */
  void* user_data;      /* passed back to every callback; OWNERSHIP: host */
  /* May be NULL (the plugin then logs nothing). message is message_len bytes
   * of UTF-8, borrowed for the duration of the callback. */
  void (*callback_log)(void* user_data, aggf_log_level level,
                       const char* message, uint32_t message_len);
} aggf_host_callbacks;

/* Receives saved state, in one or more pieces, during on_state_save.
 * OWNERSHIP: data is borrowed for the duration of the callback only. Returns
 * 0 on success; non-zero makes on_state_save fail. */
typedef int32_t (*aggf_callback_write)(void* user_data, const uint8_t* data,
                                       uint64_t size);

typedef struct aggf_instance aggf_instance; /* opaque */

/* ---- The function table ------------------------------------------------ */

/* APPEND-ONLY: never reorder, remove or change an entry of a released major
 * version; add new entries at the end and say in which minor they came. */
typedef struct aggf_api {
  uint32_t struct_size; /* sizeof(aggf_api) as the plugin was built */
  uint32_t abi_major;
  uint32_t abi_minor;
  uint32_t reserved0;
  /* Static NUL-terminated strings, valid while the plugin is loaded. */
  const char* plugin_name;
  const char* plugin_version;

  /* Creates an instance from a configuration.
   * config: config_len bytes (for flsentry: UTF-8 YAML); may be NULL iff
   *   config_len is 0. OWNERSHIP: borrowed.
   * base_dir: NUL-terminated directory against which relative paths in the
   *   configuration resolve; NULL means the current directory.
   *   OWNERSHIP: borrowed.
   * host: callbacks; may be NULL. OWNERSHIP: borrowed; the plugin copies the
   *   struct, and user_data must stay valid until on_instance_destroy.
   * out_instance: REQUIRED; receives the new instance, or NULL on failure.
   *   OWNERSHIP: the host owns the instance and releases it with
   *   on_instance_destroy.
   * error_buffer: may be NULL; on failure receives a NUL-terminated message,
   *   cut to error_buffer_size bytes. OWNERSHIP: host.
   * Returns AGGF_OK; AGGF_ERR_INVALID_ARGUMENT (a NULL out_instance, config
   * NULL with config_len > 0, a bad host struct); AGGF_ERR_CONFIG (the
   * configuration is refused, or a file it names cannot be read or written:
   * detector, audit log, state folder); AGGF_ERR_STATE (persisted state
   * unreadable, or a state file or audit log that another live instance
   * holds: a plugin may keep one writer per file, and then says which file
   * and, when it can tell, which process holds it); AGGF_ERR_OUT_OF_MEMORY;
   * AGGF_ERR_INTERNAL. */
  aggf_status (*on_instance_create)(const char* config, uint64_t config_len,
                                    const char* base_dir,
                                    const aggf_host_callbacks* host,
                                    aggf_instance** out_instance,
                                    char* error_buffer,
                                    uint32_t error_buffer_size);

  /* Releases an instance. instance may be NULL. OWNERSHIP: consumed. The
   * plugin may still call callback_log during this call (convention 8: on
   * the calling thread), e.g. for work it finished after the last round, so
   * user_data stays valid until it returns. */
  void (*on_instance_destroy)(aggf_instance* instance);

  /* The instance's last error: NUL-terminated, never NULL ("" when none).
   * OWNERSHIP: the plugin's; valid until the next call on this instance. */
  const char* (*on_instance_last_error)(const aggf_instance* instance);

  /* Filters one round.
   * REQUIRES: num_decisions == round->num_updates.
   * round: OWNERSHIP: borrowed for the call; nothing is kept.
   * decisions: OWNERSHIP: host; every entry is written on AGGF_OK.
   * A malformed update (bad dtype, shape, duplicate client id...) does not
   * fail the round: it is dropped with AGGF_FLAG_INVALID and a reason.
   * Transactions: a call that returns anything but AGGF_OK leaves the
   * instance as it was before the call (its memory, and for flsentry its
   * state file and audit log), so the host may fix the cause and call again.
   * Round numbers (round->round), relative to the last round this instance
   * (or the state it loaded) filtered, L:
   *   - above L by at most a plugin-defined gap (flsentry: rounds.max_gap,
   *     default 1000), or any number when there is no L: a new round;
   *   - equal to L: a retry of the last round (a host that crashed between
   *     filtering and averaging). With the same updates (same clients in
   *     the same order and the same content as far as the filter measures
   *     it) the decisions of the first call are returned again and nothing
   *     is recorded twice; with other updates, AGGF_ERR_ROUND_NUMBER;
   *   - below L, or above L by more than the gap: AGGF_ERR_ROUND_NUMBER.
   * Returns AGGF_OK; AGGF_ERR_INVALID_ARGUMENT when round or decisions is
   * malformed as a whole; AGGF_ERR_ROUND_NUMBER as above; and
   * AGGF_ERR_ROUND_FAILED when the round cannot be decided (the configured
   * policy refuses it, the model changed under a detector that cannot
   * follow, or saving the state or audit log failed);
   * AGGF_ERR_OUT_OF_MEMORY; AGGF_ERR_INTERNAL. On any error the
   * decisions are unspecified and on_instance_last_error says why and what
   * to do. */
  aggf_status (*on_round_filter)(aggf_instance* instance,
                                 const aggf_round* round,
                                 aggf_decision* decisions,
                                 uint32_t num_decisions);

  /* Serialises the instance's state (versioned bytes, opaque to the host)
   * by calling write(user_data, ...) one or more times during the call.
   * write: REQUIRED. user_data: OWNERSHIP: host.
   * Returns AGGF_OK; AGGF_ERR_INVALID_ARGUMENT (NULL write); AGGF_ERR_STATE
   * (write returned non-zero); AGGF_ERR_OUT_OF_MEMORY; AGGF_ERR_INTERNAL. */
  aggf_status (*on_state_save)(aggf_instance* instance,
                               aggf_callback_write write, void* user_data);

  /* Replaces the instance's state with bytes from an earlier on_state_save.
   * data: size bytes; may be NULL iff size is 0. OWNERSHIP: borrowed.
   * On failure the state is unchanged. Returns AGGF_OK;
   * AGGF_ERR_INVALID_ARGUMENT (data NULL with size > 0); AGGF_ERR_STATE
   * (bytes it cannot read or that do not fit the configuration);
   * AGGF_ERR_OUT_OF_MEMORY; AGGF_ERR_INTERNAL. */
  aggf_status (*on_state_load)(aggf_instance* instance, const uint8_t* data,
                               uint64_t size);
  /* ---- end of ABI 1.0; later entries are appended below this line ---- */

  /* Since 1.1. Details of decision `index` of the last round this instance
   * filtered with AGGF_OK (a retried round's stored decisions count).
   * details: REQUIRED, struct_size set by the host (at least 8).
   *   OWNERSHIP: host; the plugin writes during the call only.
   * Returns AGGF_OK; AGGF_ERR_INVALID_ARGUMENT when details is NULL or too
   * small, no round has been filtered since the instance was created or
   * its state loaded, or index is not below that round's number of
   * updates; AGGF_ERR_INTERNAL. */
  aggf_status (*on_round_details)(aggf_instance* instance, uint32_t index,
                                  aggf_decision_details* details);

  /* Since 1.2. Rounds on arrival: one round given one update at a time, as
   * clients finish, instead of all at once to on_round_filter. The plugin
   * does the work that reads an update's bytes when the update is added
   * and keeps a bounded summary of it (for flsentry: its sketch, O(1000)
   * floats, the column energies of its first dense layer, at most 65,536
   * floats, and its tensors' names and shapes), never a pointer into it,
   * so the host may average and free each update as it arrives; at
   * on_round_end it decides every update added, exactly as
   * on_round_filter would have decided the same round (same decisions,
   * same state and audit). A host that averages on arrival must still be
   * able to honour a drop or down-weight decided at the end: keep the
   * update (in memory or on disk) until then, or keep running sums from
   * which an update can be taken out again (docs/on-arrival.md).
   * The round is open from on_round_begin until on_round_end. Calling
   * on_round_begin again, on_round_filter or a successful on_state_load
   * while a round is open closes it: nothing of it is recorded (logged as
   * a warning).
   *
   * on_round_begin: begin: REQUIRED. OWNERSHIP: the struct is read during
   *   the call; its global_tensors are borrowed until the round closes
   *   (see aggf_round_begin). Round numbers are checked here, with
   *   on_round_filter's rules. Returns AGGF_OK;
   *   AGGF_ERR_INVALID_ARGUMENT (a NULL or malformed begin, a malformed
   *   global tensor); AGGF_ERR_ROUND_NUMBER; AGGF_ERR_OUT_OF_MEMORY;
   *   AGGF_ERR_INTERNAL. On error nothing changes (a round open before
   *   stays open). */
  aggf_status (*on_round_begin)(aggf_instance* instance,
                                const aggf_round_begin* begin);
  /* on_round_add: the next update of the open round; its index in the
   *   decisions of on_round_end is the number of updates added before it.
   *   update: REQUIRED. OWNERSHIP: borrowed for the call only. A malformed
   *   update (bad dtype, shape, client id...) is not an error: it is
   *   decided, dropped with AGGF_FLAG_INVALID, at the end. Returns AGGF_OK;
   *   AGGF_ERR_INVALID_ARGUMENT (NULL update, no open round, or the round
   *   already has AGGF_MAX_UPDATES updates; the round stays open and the
   *   update is not added); AGGF_ERR_OUT_OF_MEMORY (not added);
   *   AGGF_ERR_INTERNAL. */
  aggf_status (*on_round_add)(aggf_instance* instance,
                              const aggf_update* update);
  /* on_round_end: decides the open round and closes it, whatever the
   *   outcome. REQUIRES: num_decisions == the number of updates added.
   *   decisions: OWNERSHIP: host; every entry is written on AGGF_OK, in
   *   the order the updates were added. Returns on_round_filter's codes
   *   with its transaction rule (on error nothing is recorded, and the
   *   host may begin the same round again and add its updates anew), and
   *   AGGF_ERR_INVALID_ARGUMENT when no round is open or num_decisions
   *   differs (the round stays open then). on_round_details describes the
   *   round after AGGF_OK. */
  aggf_status (*on_round_end)(aggf_instance* instance, aggf_decision* decisions,
                              uint32_t num_decisions);
} aggf_api;

/* The one exported symbol.
 * abi_major: the major version the host speaks (AGGF_ABI_MAJOR).
 * error_buffer: may be NULL; receives why NULL was returned. OWNERSHIP: host.
 * Returns a static table, valid while the plugin is loaded, or NULL when the
 * plugin cannot serve abi_major. */
typedef const aggf_api* (*aggf_get_api_fn)(uint32_t abi_major,
                                           char* error_buffer,
                                           uint32_t error_buffer_size);

#if defined(__GNUC__)
#define AGGF_EXPORT __attribute__((visibility("default")))
#else
#define AGGF_EXPORT
#endif

/* Declared for plugins; hosts resolve it with dlsym(AGGF_ENTRY_SYMBOL). */
AGGF_EXPORT const aggf_api* aggf_get_api(uint32_t abi_major, char* error_buffer,
                                         uint32_t error_buffer_size);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* AGGFILTER_H_ */
