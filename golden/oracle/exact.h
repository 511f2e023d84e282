/* exact.h - exact-arithmetic helpers shared by every oracle operator family.
 *
 * The oracle never computes with C floats: inputs are turned into MPFR values
 * exactly, every stage is computed in MPFR at OX_PREC bits, and each output is
 * rounded once to its declared format.  This file holds the pieces every
 * family needs: MPFR setup, exact fp32 <-> MPFR conversion, correct rounding
 * to binary32 (subnormals included), fp32 bit helpers and a deterministic
 * random number generator (integer only, so files are byte-identical on every
 * machine and compiler). */
#ifndef DSV4_ORACLE_EXACT_H
#define DSV4_ORACLE_EXACT_H

#include <mpfr.h>
#include <stddef.h>
#include <stdint.h>

/* Working precision of every MPFR variable the oracle creates (bits). */
#define OX_PREC 256

/* Canonical quiet NaN every oracle stage emits for a NaN result. */
#define OX_F32_QNAN 0x7FC00000u

/* Sets the MPFR default precision; call once before any other ox_ function. */
void ox_init(void);
/* "mpfr <version>, <OX_PREC> bits", the value of the "oracle" metadata key. */
const char *ox_oracle_name(void);

/* ---- fp32 bit patterns (no arithmetic) --------------------------------- */
uint32_t ox_f32_bits(float x);
float ox_f32_from_bits(uint32_t u);
int ox_f32_is_nan(uint32_t u);
int ox_f32_is_inf(uint32_t u);
/* Next fp32 toward +Inf / -Inf by bit stepping (the IEEE nextUp/nextDown).
 * NaN is returned unchanged; nextup(+Inf) = +Inf; nextup(-0) = min subnormal. */
uint32_t ox_f32_nextup(uint32_t u);
uint32_t ox_f32_nextdown(uint32_t u);
/* fp32 bits of +-2^k for an integer k that fp32 holds exactly (-149..127). */
uint32_t ox_f32_pow2(int k, int negative);
/* fp32 bits -> the bits of the bf16-valued fp32 nearest to it (RNE on the
 * upper 16 bits).  Input generation only: used to make bf16-valued test
 * inputs, never to compute an expected output.  Inf after rounding is
 * replaced by the largest finite bf16 of the same sign; NaN is kept. */
uint32_t ox_f32_round_to_bf16_value(uint32_t u);

/* ---- exact conversions -------------------------------------------------- */
/* r = x exactly (r must have >= 24 bits); NaN keeps no payload, sign of zero
 * and of Inf is kept. */
void ox_set_f32_bits(mpfr_t r, uint32_t bits);
/* The binary32 value nearest to x, ties to even, with gradual underflow
 * (subnormals) and overflow to +-Inf as IEEE 754 round-to-nearest-even.
 * Zero keeps its sign; NaN gives OX_F32_QNAN.  Returns fp32 bits. */
uint32_t ox_round_f32(const mpfr_t x);
/* fp32 bits, rounded to nearest even once (ox_round_f32), of a double; of
 * num * 2^e; of a number written as text (decimal, or hexadecimal with
 * 0x, as mpfr_set_str with base 0 reads it). */
uint32_t ox_f32_of_double(double d);
uint32_t ox_f32_of_dyadic(long num, long e);
uint32_t ox_f32_of_text(const char *s);
/* The shortest decimal text (at most 9 digits) that reads back to the fp32
 * value `bits`: config values such as eps ("1e-06"). */
void ox_f32_decimal(uint32_t bits, char *buf, size_t len);

/* ---- deterministic RNG: xoshiro256** seeded with splitmix64 -------------- */
typedef struct ox_rng {
    uint64_t s[4];
} ox_rng;

void ox_rng_seed(ox_rng *r, uint64_t seed);
uint64_t ox_rng_next(ox_rng *r);
/* Uniform integer in [0, n), n >= 1 (multiply-shift on the top 32 bits;
 * the tiny bias does not matter for test data). */
uint32_t ox_rng_below(ox_rng *r, uint32_t n);
/* Uniform integer in [lo, hi]. */
int ox_rng_range(ox_rng *r, int lo, int hi);

/* A bf16-valued fp32 drawn about normally with standard deviation 2^e: the
 * Irwin-Hall sum of twelve 32-bit uniforms minus 6, times 2^e, rounded to
 * fp32 and then to the nearest bf16 value.  Input generation only. */
uint32_t ox_normal_bf16(ox_rng *r, long e);

/* Self tests: 0 when got == want, else prints "selftest FAIL what: got ...,
 * want ..." to stderr and returns 1. */
int ox_check_bits(const char *what, uint32_t got, uint32_t want);
/* Checks ox_round_f32 and the fp32 helpers; returns the number of failures
 * (each printed on stderr). */
int ox_selftest(void);

#endif
