/* ops_shared.h - declarations several operators of the registry share: the
 * RoPE keys (spec/rope.md), which the rope operator and every operator that
 * rotates (the compressor, the indexer) declare alike. */
#ifndef DSV4_OPS_SHARED_H
#define DSV4_OPS_SHARED_H

#include "registry.h"

/* The six keys of a dsv4_rope_cfg, defaults those of V4's compressing layers
 * (DSV4_ROPE_V4_COMPRESS), for DSV4_KEYS(...). */
#define DSV4_ROPE_KEYS                                                                       \
    {.name = "rope_dim",                                                                     \
     .kind = DSV4_KEY_UINT,                                                                  \
     .def = "64",                                                                            \
     .min = 2,                                                                               \
     .max = 65536,                                                                           \
     .help = "channels rotated, the last of each row; even (V4: 64)"},                       \
    {.name = "base",                                                                         \
     .kind = DSV4_KEY_NUMBER,                                                                \
     .def = "160000",                                                                        \
     .help = "theta (V4: 160000 with a compressor, 10000 window-only)"},                     \
    {.name = "factor", .kind = DSV4_KEY_NUMBER, .def = "16", .help = "YaRN scale factor (V4: 16)"}, \
    {.name = "original_seq_len",                                                             \
     .kind = DSV4_KEY_UINT,                                                                  \
     .def = "65536",                                                                         \
     .min = 0,                                                                               \
     .max = (1ull << 53) - 1,                                                                \
     .help = "YaRN's original context; 0 = no YaRN (V4: 65536 with a compressor, 0 "         \
             "window-only)"},                                                                \
    {.name = "beta_fast",                                                                    \
     .kind = DSV4_KEY_NUMBER,                                                                \
     .def = "32",                                                                            \
     .help = "YaRN correction range, fast end in rotations (V4: 32)"},                       \
    {.name = "beta_slow",                                                                    \
     .kind = DSV4_KEY_NUMBER,                                                                \
     .def = "1",                                                                             \
     .help = "YaRN correction range, slow end in rotations (V4: 1)"}

/* The limits of dsv4_rope_cfg that the key declarations cannot state on
 * their own (an even rope_dim, base, and with YaRN factor and betas);
 * `op` names the operator in the message. */
dsv4_status dsv4_rope_keys_check(const dsv4_json *cfg, const char *op, char *err, size_t errlen);
/* The dsv4_rope_cfg of a checked config. */
dsv4_rope_cfg dsv4_rope_keys_cfg(const dsv4_json *cfg);

#endif
