/* status.c - messages for dsv4_status, and the library's version
 * (include/dsv4.h). */
#include "dsv4.h"

const char *dsv4_strerror(dsv4_status s) {
    switch (s) {
    case DSV4_OK: return "success";
    case DSV4_E_NULL: return "a required pointer argument is NULL";
    case DSV4_E_SIZE: return "invalid or inconsistent size";
    case DSV4_E_OVERFLOW: return "size computation overflows size_t";
    case DSV4_E_ALIGN: return "length is not a multiple of the block size";
    case DSV4_E_ARG: return "invalid argument value";
    case DSV4_E_NOMEM: return "out of memory";
    case DSV4_E_IO: return "file input/output error";
    case DSV4_E_FORMAT: return "malformed file or text";
    case DSV4_E_ISA: return "requested instruction set is not supported by this CPU, OS or build (see DSV4_ISA)";
    case DSV4_E_NOTFOUND: return "named tensor, key or operator not found";
    case DSV4_E_DTYPE: return "tensor has the wrong dtype or shape";
    case DSV4_E_THREAD: return "could not start a worker thread";
    case DSV4_STATUS_COUNT: break;
    }
    return "unknown status code";
}

const char *dsv4_version(void) { return DSV4_VERSION_STRING; }
