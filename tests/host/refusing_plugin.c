/* A plugin that serves no ABI version the host speaks. */
#include <stdio.h>

#include "aggfilter.h"

const aggf_api* aggf_get_api(uint32_t abi_major, char* error_buffer,
                             uint32_t error_buffer_size) {
  if (error_buffer && error_buffer_size) {
    snprintf(error_buffer, error_buffer_size, "only ABI 99 here, not %u",
             (unsigned)abi_major);
  }
  return NULL;
}
