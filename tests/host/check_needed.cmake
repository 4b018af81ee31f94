# Fails if `readelf -d LIB` lists a NEEDED library whose name matches
# FORBIDDEN (default: LibTorch's and PyTorch's libraries, and what they
# bring along: the OpenMP runtime and BLAS/LAPACK, whose per-CPU kernels the
# plugin's arithmetic must not depend on). With
# -DEXPECT_FAILURE=ON the verdict is inverted: the self-test, proving that
# the check finds a library that is there.
if(NOT DEFINED FORBIDDEN)
  set(FORBIDDEN
      "^lib(torch|torch_cpu|torch_global_deps|c10|shm|caffe2|gomp|iomp5|openblas|blas|lapack)[._]")
endif()
execute_process(COMMAND readelf -d ${LIB}
                OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "readelf failed on ${LIB}")
endif()
string(REGEX MATCHALL "\\(NEEDED\\)[^\n]*\\[[^]\n]+\\]" lines "${out}")
set(needed "")
set(bad "")
foreach(line IN LISTS lines)
  string(REGEX REPLACE ".*\\[([^]]+)\\]" "\\1" name "${line}")
  list(APPEND needed "${name}")
  if(name MATCHES "${FORBIDDEN}")
    list(APPEND bad "${name}")
  endif()
endforeach()
if(needed STREQUAL "")
  message(FATAL_ERROR "no NEEDED entries read from ${LIB}")
endif()
if(EXPECT_FAILURE)
  if(bad STREQUAL "")
    message(FATAL_ERROR "self-test: nothing matching ${FORBIDDEN} found in ${needed}")
  endif()
  message(STATUS "self-test: found ${bad}")
elseif(NOT bad STREQUAL "")
  message(FATAL_ERROR "${LIB} needs ${bad} (NEEDED: ${needed})")
else()
  message(STATUS "NEEDED: ${needed}")
endif()
