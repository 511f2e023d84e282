/* vec.h - the vector-width layer of opt/'s lane-wise kernels (not installed).
 *
 * The kernels whose lanes do the same thing whatever their number (the codecs
 * and block quantizers, the mHC stages, the vector expf, AdamW, the SGEMM
 * micro-kernel and packer) are written once, in opt/foo_simd.c, over the
 * operations below.  Each x86 ISA compiles such a source once: its wrapper (foo_avx2.c,
 * foo_avx512.c) defines DSV4_VEC_AVX2 or DSV4_VEC_AVX512 and includes it, with
 * the ISA's compiler flags.  A foo_simd.c is never compiled on its own (the
 * Makefile leaves *_simd.c out), and nothing here exists off x86-64.
 *
 * What an ISA header (vec_avx2.h, vec_avx512.h) provides:
 *  - VEC_W lanes (8, 16) and VEC_REGS vector registers (16, 32: the register
 *    tiles of the GEMM-like kernels are sized from it); VEC_NAME(x) is x with
 *    the ISA's suffix (x_avx2, x_avx512), for the tables a source defines.
 *  - Types: vf (VEC_W fp32), vi (VEC_W 32-bit integers), vm (a lane mask, the
 *    result of a comparison), vd and vq (VEC_W / 2 doubles and 64-bit
 *    integers, the two halves of a vf widened), vcount (a shift count held in
 *    a register).
 *  - VEC_STREAM is 1 where one vector is one 64-byte line (AVX-512): only
 *    there does the layer have vf_stream (a non-temporal store of a line),
 *    vf_store_where and vf_join / vjoin (for shifting a stream of vectors
 *    onto line boundaries).
 *  - Arithmetic is the IEEE operation of its name on each lane, rounded once;
 *    only vf_fmadd fuses (the sources are compiled in ISO C mode, so the
 *    compiler contracts nothing).  vf_max(a, b) is x86's: a > b ? a : b, so b
 *    when either is NaN.  vf_hsum adds the lanes in a fixed order: the upper
 *    half onto the lower one until one lane is left.
 *  - Integer lanes are uint32_t: vi_gt and vi_max_i32 / vi_min_i32 compare
 *    them as int32_t, vi_gt_u32 and vi_max_u32 / vi_min_u32 as unsigned.
 *  - vi_where(m, yes, no), vf_where: yes in the lanes of m, no elsewhere.
 *  - vf_transpose(r) transposes the VEC_W x VEC_W block held in r[0 .. VEC_W).
 *  - Memory: vf_load / vf_store move VEC_W floats; the *_n forms move the
 *    first n lanes (n <= VEC_W), give 0 in the other lanes and touch no memory
 *    past the first n elements (AVX-512 through masked instructions; AVX2
 *    through maskload / maskstore for fp32 and a small copy on the stack for
 *    8- and 16-bit codes, which it has no masked moves for).  Code loads
 *    zero-extend; code stores keep the low 8 or 16 bits of each lane, whose
 *    value must fit them.  vi_load_nib_n / vi_store_nib_n move packed 4-bit
 *    codes, lane 2i in the low nibble of byte i and lane 2i + 1 in its high
 *    nibble (n even). */
#ifndef DSV4_VEC_H
#define DSV4_VEC_H

#if !defined(__x86_64__)
#error "vec.h: the vector layer is x86-64 only"
#endif

#if defined(DSV4_VEC_AVX512)
#include "vec_avx512.h"
#elif defined(DSV4_VEC_AVX2)
#include "vec_avx2.h"
#else
#error "vec.h: define DSV4_VEC_AVX2 or DSV4_VEC_AVX512 before including it"
#endif

/* For the helpers of hot loops that the compiler must inline whatever their
 * size or number of callers (their loops are then unrolled and their arrays
 * of vectors kept in registers). */
#define VEC_INLINE static inline __attribute__((always_inline))

/* ---- built on the ISA's operations ------------------------------------------ */

static inline vf vf_bits(uint32_t u) { return vi_as_vf(vi_set1(u)); }

/* n bf16 codes widened exactly to fp32 (each code becomes the upper half of
 * the fp32 bits). */
static inline vf vf_load_bf16_n(const uint16_t *p, size_t n) {
    return vi_as_vf(vi_slli(vi_load_u16_n(p, n), 16));
}

/* u plus 0x7FFF plus its bit 16: the upper half is then u rounded to
 * bfloat16, to nearest even (a carry into the exponent gives the next binade
 * or Inf, as IEEE rounding does).  NaN inputs are left to the caller. */
static inline vi vi_bf16_rne(vi u) {
    vi odd = vi_and(vi_srli(u, 16), vi_set1(1));
    return vi_add(u, vi_add(odd, vi_set1(0x7FFFu)));
}

/* A hint to bring the line at p into L1; never faults, whatever p is. */
static inline void vec_prefetch(const void *p) { _mm_prefetch((const char *)p, _MM_HINT_T0); }

#endif
