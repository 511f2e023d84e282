/* ops_shared.c - the RoPE keys' checks and conversion (ops_shared.h). */
#include "ops_shared.h"

#include <float.h>
#include <stdio.h>

static double number(const dsv4_json *cfg, const char *key) {
    return dsv4_json_get(cfg, key)->number;
}

dsv4_status dsv4_rope_keys_check(const dsv4_json *cfg, const char *op, char *err, size_t errlen) {
    if (dsv4_json_get(cfg, "rope_dim")->u % 2 != 0) {
        snprintf(err, errlen, "op %s: rope_dim must be even (channels rotate in pairs)", op);
        return DSV4_E_ARG;
    }
    if (!(number(cfg, "base") > 1.0) || !(number(cfg, "base") <= FLT_MAX)) {
        snprintf(err, errlen, "op %s: base must be above 1 and at most FLT_MAX", op);
        return DSV4_E_ARG;
    }
    if (dsv4_json_get(cfg, "original_seq_len")->u == 0) return DSV4_OK; /* no YaRN */
    if (!(number(cfg, "factor") >= 1.0) || !(number(cfg, "factor") <= FLT_MAX)) {
        snprintf(err, errlen, "op %s: with YaRN, factor must be in [1, FLT_MAX]", op);
        return DSV4_E_ARG;
    }
    if (!(number(cfg, "beta_fast") > 0.0) || !(number(cfg, "beta_slow") > 0.0)) {
        snprintf(err, errlen, "op %s: with YaRN, beta_fast and beta_slow must be above 0", op);
        return DSV4_E_ARG;
    }
    return DSV4_OK;
}

dsv4_rope_cfg dsv4_rope_keys_cfg(const dsv4_json *cfg) {
    dsv4_rope_cfg r;
    r.rope_dim = (size_t)dsv4_json_get(cfg, "rope_dim")->u;
    r.base = number(cfg, "base");
    r.factor = number(cfg, "factor");
    r.original_seq_len = dsv4_json_get(cfg, "original_seq_len")->u;
    r.beta_fast = number(cfg, "beta_fast");
    r.beta_slow = number(cfg, "beta_slow");
    return r;
}
