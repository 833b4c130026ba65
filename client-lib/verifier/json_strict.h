/*
 * A strict JSON (RFC 8259) syntax check that runs over the text of a policy or reference
 * file before json-c builds its tree. json-c, even with JSON_TOKENER_STRICT, accepts
 * single-quoted strings, NaN and Infinity, "\u0000" (which then truncates a key) and
 * duplicate keys (the last one wins); each of those can make a policy say less than its
 * author meant, so the verifier refuses them here, with the position of the problem.
 */
#ifndef SRTM_JSON_STRICT_H
#define SRTM_JSON_STRICT_H

#include <stddef.h>

#include "common.h"

/*
 * SRTM_OK when text[0..len) is one JSON object (whitespace around it allowed) in the
 * strict grammar: RFC 8259 syntax only (no comments, no trailing commas, no single
 * quotes, no NaN/Infinity, no leading zeros, no raw control bytes in strings), every
 * string valid UTF-8 without NUL (raw or "\u0000") or unpaired surrogates, no key twice
 * in one object (keys compared after unescaping), nesting at most max_depth deep.
 * SRTM_E_INVALID otherwise, with "line L, column C: what" in msg (columns count bytes,
 * from 1). SRTM_E_NO_MEMORY when memory runs out. Linear in len plus n log n per object
 * of n keys; recursion is bounded by max_depth.
 */
SRTM_WUR srtm_err json_strict_check(const char *text, size_t len, unsigned max_depth, char *msg,
                                    size_t msg_size);

#endif /* SRTM_JSON_STRICT_H */
