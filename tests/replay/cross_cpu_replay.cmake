# Replays the bundled archive (model_updates/archive) with configs/
# default.yaml under every kernel choice a machine could make and fails
# unless decisions.jsonl is byte-identical across them: OpenBLAS's and
# ATen's per-CPU kernels forced (OPENBLAS_CORETYPE, ATEN_CPU_CAPABILITY;
# they once changed the plugin's decisions, when it computed with LibTorch),
# each of flsentry's own kernel paths (FLSENTRY_KERNEL_ISA; a path this CPU
# lacks falls back, see plugin/detector/dense_kernels.h), and 3 detector
# threads instead of 1. What other CPUs compute is covered by the same
# argument: the plugin's arithmetic has one order and no fused operations.
#
# cmake -DFLSENTRY=BIN -DSOURCE_DIR=DIR -DWORK_DIR=DIR [-DUPDATE_GOLDEN=ON]
#       -P cross_cpu_replay.cmake
cmake_minimum_required(VERSION 3.21)  # file(COPY_FILE); list() policies
foreach(var FLSENTRY SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "cross_cpu_replay.cmake: -D${var}=... is required")
  endif()
endforeach()
# The decisions of this release on the bundled archive, recorded: a change
# of behaviour (a policy default, a guard, the detector's arithmetic) shows
# up here as a failure and must be made on purpose, by rerunning with
# -DUPDATE_GOLDEN=ON (scripts/update_replay_golden.sh) and saying why in the
# commit. Exact bytes: the plugin computes the same bits on every x86-64 CPU.
set(GOLDEN ${SOURCE_DIR}/tests/replay/golden/model_updates_default.decisions.jsonl)
function(CheckGolden decisions)
  if(UPDATE_GOLDEN)
    file(COPY_FILE ${decisions} ${GOLDEN})
    message(STATUS "recorded ${GOLDEN}")
  endif()
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${GOLDEN}
                          ${decisions} RESULT_VARIABLE differ)
  if(NOT differ EQUAL 0)
    message(FATAL_ERROR
      "decisions.jsonl of the bundled archive under configs/default.yaml "
      "differs from the recorded ${GOLDEN} (diff it against ${decisions}). "
      "If the change is intended, run scripts/update_replay_golden.sh and "
      "say why in the commit.")
  endif()
  message(STATUS "the same bytes as ${GOLDEN}")
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

# 3 detector threads: default.yaml with `threads: 3`.
file(READ ${SOURCE_DIR}/configs/default.yaml policy)
string(REGEX REPLACE "\n  threads: 1 " "\n  threads: 3 " threaded "${policy}")
if(threaded STREQUAL policy)
  message(FATAL_ERROR "configs/default.yaml: no 'threads: 1' line to change")
endif()
file(WRITE ${WORK_DIR}/threads3/default.yaml "${threaded}")

set(variants
  "unset|"
  "openblas_haswell|OPENBLAS_CORETYPE=Haswell"
  "openblas_sandybridge|OPENBLAS_CORETYPE=Sandybridge"
  "openblas_zen|OPENBLAS_CORETYPE=Zen"
  "aten_default|ATEN_CPU_CAPABILITY=default"
  "kernel_baseline|FLSENTRY_KERNEL_ISA=baseline"
  "kernel_avx2|FLSENTRY_KERNEL_ISA=avx2"
  "kernel_avx512|FLSENTRY_KERNEL_ISA=avx512"
  "threads3|")
set(reference "")
foreach(variant IN LISTS variants)
  string(REPLACE "|" ";" parts "${variant}")
  list(GET parts 0 name)
  list(LENGTH parts n)
  set(assignment "")
  if(n GREATER 1)
    list(GET parts 1 assignment)
  endif()
  set(config ${SOURCE_DIR}/configs/default.yaml)
  if(name STREQUAL "threads3")
    set(config ${WORK_DIR}/threads3/default.yaml)
  endif()
  set(out ${WORK_DIR}/${name})
  execute_process(
    COMMAND ${CMAKE_COMMAND} -E env --unset=OPENBLAS_CORETYPE
            --unset=ATEN_CPU_CAPABILITY --unset=FLSENTRY_KERNEL_ISA
            ${assignment}
            ${FLSENTRY} replay ${SOURCE_DIR}/model_updates/archive
            --config ${config} --out ${out}
    RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${name}: flsentry replay failed (${rc}): ${err}")
  endif()
  file(STRINGS ${out}/decisions.jsonl lines)
  list(LENGTH lines count)
  if(NOT count EQUAL 40)
    message(FATAL_ERROR "${name}: ${count} decisions, expected 40")
  endif()
  if(reference STREQUAL "")
    set(reference ${out}/decisions.jsonl)
    message(STATUS "${name}: 40 decisions (the reference)")
    CheckGolden(${reference})
    continue()
  endif()
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${reference}
                          ${out}/decisions.jsonl RESULT_VARIABLE differ)
  if(NOT differ EQUAL 0)
    message(FATAL_ERROR
      "${name} (${assignment}): decisions.jsonl differs from the run with "
      "nothing forced: ${reference} vs ${out}/decisions.jsonl")
  endif()
  message(STATUS "${name}: byte-identical")
endforeach()
