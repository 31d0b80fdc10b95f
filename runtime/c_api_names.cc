// Names and version of the C ABI (include/uffdgc/uffdgc.h). No state; any thread.
#include "uffdgc/uffdgc.h"

#define UFFDGC_STR2(x) #x
#define UFFDGC_STR(x) UFFDGC_STR2(x)

extern "C" {

const char* uffdgc_version(void) {
  return UFFDGC_STR(UFFDGC_VERSION_MAJOR) "." UFFDGC_STR(UFFDGC_VERSION_MINOR) "." UFFDGC_STR(
      UFFDGC_VERSION_PATCH);
}

const char* uffdgc_result_name(uffdgc_result result) {
  switch (result) {
    case UFFDGC_OK: return "UFFDGC_OK";
    case UFFDGC_EINVAL: return "UFFDGC_EINVAL";
    case UFFDGC_ESTRUCTSIZE: return "UFFDGC_ESTRUCTSIZE";
    case UFFDGC_EUNSUPPORTED: return "UFFDGC_EUNSUPPORTED";
    case UFFDGC_ENOMEM: return "UFFDGC_ENOMEM";
    case UFFDGC_EINTERNAL: return "UFFDGC_EINTERNAL";
    case UFFDGC_ESTATE: return "UFFDGC_ESTATE";
    case UFFDGC_ETYPE: return "UFFDGC_ETYPE";
    case UFFDGC_EOVERFLOW: return "UFFDGC_EOVERFLOW";
    case UFFDGC_ELIMIT: return "UFFDGC_ELIMIT";
    case UFFDGC_ENOTFOUND: return "UFFDGC_ENOTFOUND";
    case UFFDGC_EEMPTY: return "UFFDGC_EEMPTY";
    default: return "UFFDGC_E(unknown)";
  }
}

const char* uffdgc_mode_name(uint32_t mode) {
  switch (mode) {
    case UFFDGC_MODE_AUTO: return "auto";
    case UFFDGC_MODE_MOVE: return "move";
    case UFFDGC_MODE_COPY: return "copy";
    case UFFDGC_MODE_STW: return "stop-the-world";
    default: return "unknown";
  }
}

}  // extern "C"
