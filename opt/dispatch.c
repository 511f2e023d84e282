/* dispatch.c - choose the instruction set for opt/ at run time.
 *
 * An ISA is usable when (1) this build compiled its kernels, (2) CPUID reports
 * the instructions and (3) the OS saves the register state they need, as
 * XGETBV's XCR0 tells: bits 1-2 (SSE, AVX) for AVX2, and bits 5-7 (opmask,
 * upper ZMM halves, ZMM16-31) as well for AVX-512.  Without (3) the CPU would
 * fault on the first instruction, so CPUID alone is not enough.
 *
 * DSV4_ISA=scalar|avx2|avx512 forces one; an unknown or unsupported name puts
 * the dispatcher in an error state that every opt_* call reports. */
#include "opt.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
#define DSV4_X86 1
#include <cpuid.h>

static uint64_t read_xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static int cpu_has(dsv4_isa isa) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx || !fma) return 0;
    uint64_t xcr0 = read_xcr0();
    if ((xcr0 & 0x6) != 0x6) return 0;
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    int avx2 = (b >> 5) & 1;
    if (isa == DSV4_ISA_AVX2) return avx2;
    int f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
    return avx2 && f && dq && bw && vl && (xcr0 & 0xE0) == 0xE0;
}
#endif

int dsv4_isa_supported(dsv4_isa isa) {
    switch (isa) {
    case DSV4_ISA_SCALAR: return 1;
#ifdef DSV4_X86
    case DSV4_ISA_AVX2:
    case DSV4_ISA_AVX512: return cpu_has(isa);
#endif
    default: return 0;
    }
}

dsv4_isa dsv4_isa_best(void) {
    if (dsv4_isa_supported(DSV4_ISA_AVX512)) return DSV4_ISA_AVX512;
    if (dsv4_isa_supported(DSV4_ISA_AVX2)) return DSV4_ISA_AVX2;
    return DSV4_ISA_SCALAR;
}

static const char *const isa_names[DSV4_ISA_COUNT] = {"scalar", "avx2", "avx512"};

const char *dsv4_isa_name(dsv4_isa isa) {
    return ((unsigned)isa < DSV4_ISA_COUNT) ? isa_names[isa] : "?";
}

dsv4_status dsv4_isa_parse(const char *name, dsv4_isa *out) {
    if (!name || !out) return DSV4_E_NULL;
    for (int i = 0; i < DSV4_ISA_COUNT; i++)
        if (strcmp(name, isa_names[i]) == 0) {
            *out = (dsv4_isa)i;
            return DSV4_OK;
        }
    return DSV4_E_ARG;
}

/* Dispatcher state.  Initialised once; dsv4_isa_set() may change it later
 * (tests do, between calls; it is not meant to race with running kernels). */
static struct {
    int ready;
    dsv4_isa isa;
    dsv4_status status;
} state;

static void init_state(void) {
    if (state.ready) return;
    const char *env = getenv("DSV4_ISA");
    dsv4_isa isa = dsv4_isa_best();
    dsv4_status st = DSV4_OK;
    if (env && *env) {
        if (dsv4_isa_parse(env, &isa) != DSV4_OK || !dsv4_isa_supported(isa)) {
            st = DSV4_E_ISA;
            isa = DSV4_ISA_SCALAR;
        }
    }
    state.isa = isa;
    state.status = st;
    state.ready = 1;
}

dsv4_isa dsv4_isa_active(void) {
    init_state();
    return state.isa;
}

dsv4_status dsv4_isa_status(void) {
    init_state();
    return state.status;
}

dsv4_status dsv4_isa_set(dsv4_isa isa) {
    init_state();
    if (!dsv4_isa_supported(isa)) return DSV4_E_ISA;
    state.isa = isa;
    state.status = DSV4_OK;
    return DSV4_OK;
}
