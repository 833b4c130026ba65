/*
 * The strict JSON grammar of policy and reference files (json_strict.h): a recursive
 * descent over the bytes, bounded in depth, that builds nothing but the decoded keys of
 * the object being read, so that a key given twice (also when spelled differently, as
 * "a" and "\u0061") is found. The first problem stops the scan and is reported with its
 * line and column.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_strict.h"

typedef struct jscan {
    const unsigned char *s;
    size_t len, pos;
    unsigned depth, max_depth;
    char *msg;
    size_t msg_size;
    srtm_err err; /* SRTM_OK until the first problem */
} jscan;

/* A decoded key and where it starts. */
typedef struct jkey {
    char *text;
    size_t len, at;
} jkey;

static void where(const jscan *j, size_t at, size_t *line, size_t *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < at && i < j->len; i++) {
        if (j->s[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static bool fail_at(jscan *j, size_t at, const char *fmt, ...) SRTM_PRINTF(3, 4);
static bool fail_at(jscan *j, size_t at, const char *fmt, ...)
{
    if (j->err != SRTM_OK)
        return false;
    j->err = SRTM_E_INVALID;
    if (j->msg == NULL || j->msg_size == 0)
        return false;
    size_t line, col;
    where(j, at, &line, &col);
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(j->msg, j->msg_size, "line %zu, column %zu: %s", line, col, what);
    return false;
}

static bool no_memory(jscan *j)
{
    if (j->err == SRTM_OK)
        j->err = SRTM_E_NO_MEMORY;
    return false;
}

static void skip_ws(jscan *j)
{
    while (j->pos < j->len && (j->s[j->pos] == ' ' || j->s[j->pos] == '\t' ||
                               j->s[j->pos] == '\n' || j->s[j->pos] == '\r'))
        j->pos++;
}

/* What the byte at pos is, for messages. */
static bool unexpected(jscan *j, const char *wanted)
{
    if (j->pos >= j->len)
        return fail_at(j, j->pos, "%s expected, found the end of the text", wanted);
    unsigned char c = j->s[j->pos];
    if (c == '\'')
        return fail_at(j, j->pos, "%s expected, found a single quote (strings take \")", wanted);
    if (c == '/')
        return fail_at(j, j->pos, "%s expected, found '/' (JSON has no comments)", wanted);
    if (c >= 0x21 && c < 0x7f)
        return fail_at(j, j->pos, "%s expected, found '%c'", wanted, c);
    return fail_at(j, j->pos, "%s expected, found byte 0x%02x", wanted, c);
}

/* Append code point cp as UTF-8 to the key being decoded (out may be NULL: no key). */
static void put_utf8(char *out, size_t *n, uint32_t cp)
{
    if (out == NULL)
        return;
    if (cp < 0x80) {
        out[(*n)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*n)++] = (char)(0xc0 | cp >> 6);
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out[(*n)++] = (char)(0xe0 | cp >> 12);
        out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        out[(*n)++] = (char)(0xf0 | cp >> 18);
        out[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
        out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    }
}

static bool hex4(jscan *j, uint32_t *out)
{
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        size_t at = j->pos + 1 + (size_t)k;
        unsigned char c = at < j->len ? j->s[at] : 0;
        int d = c >= '0' && c <= '9' ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return fail_at(j, j->pos - 1, "\\u must be followed by 4 hex digits");
        v = v << 4 | (uint32_t)d;
    }
    j->pos += 5;
    *out = v;
    return true;
}

/* A \u escape at pos (the 'u'), a surrogate pair taken whole. */
static bool escape_u(jscan *j, char *out, size_t *n)
{
    size_t start = j->pos - 1;
    uint32_t cp;
    if (!hex4(j, &cp))
        return false;
    if (cp == 0)
        return fail_at(j, start, "NUL (\\u0000) in a string");
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return fail_at(j, start, "an unpaired low surrogate \\u%04x", cp);
    if (cp >= 0xd800 && cp <= 0xdbff) {
        uint32_t lo;
        if (j->pos + 1 >= j->len || j->s[j->pos] != '\\' || j->s[j->pos + 1] != 'u')
            return fail_at(j, start, "an unpaired high surrogate \\u%04x", cp);
        j->pos++;
        if (!hex4(j, &lo))
            return false;
        if (lo < 0xdc00 || lo > 0xdfff)
            return fail_at(j, start, "an unpaired high surrogate \\u%04x", cp);
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    put_utf8(out, n, cp);
    return true;
}

/* One raw UTF-8 sequence at pos (a byte >= 0x80): shortest form, no surrogates. */
static bool raw_utf8(jscan *j, char *out, size_t *n)
{
    const unsigned char *p = j->s + j->pos;
    size_t left = j->len - j->pos, extra;
    uint32_t cp, min;
    if ((p[0] & 0xe0) == 0xc0) {
        extra = 1, cp = p[0] & 0x1f, min = 0x80;
    } else if ((p[0] & 0xf0) == 0xe0) {
        extra = 2, cp = p[0] & 0x0f, min = 0x800;
    } else if ((p[0] & 0xf8) == 0xf0) {
        extra = 3, cp = p[0] & 0x07, min = 0x10000;
    } else {
        return fail_at(j, j->pos, "not UTF-8 (byte 0x%02x)", p[0]);
    }
    if (left <= extra)
        return fail_at(j, j->pos, "not UTF-8 (a truncated sequence)");
    for (size_t k = 1; k <= extra; k++) {
        if ((p[k] & 0xc0) != 0x80)
            return fail_at(j, j->pos, "not UTF-8 (byte 0x%02x)", p[k]);
        cp = cp << 6 | (p[k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return fail_at(j, j->pos, "not UTF-8 (an overlong form or a surrogate)");
    if (out != NULL)
        memcpy(out + *n, p, extra + 1);
    *n += out != NULL ? extra + 1 : 0;
    j->pos += extra + 1;
    return true;
}

/*
 * A string at pos (the opening quote). When key is not NULL, its decoded text (a new
 * string owned by the caller) goes to *key; decoding never grows a string, so a buffer
 * of the raw length suffices.
 */
static bool string(jscan *j, jkey *key)
{
    size_t start = j->pos++;
    char *out = NULL;
    size_t n = 0, end = j->pos;
    while (end < j->len && j->s[end] != '"')
        end += j->s[end] == '\\' ? 2 : 1;
    if (key != NULL && (out = malloc(end - j->pos + 1)) == NULL)
        return no_memory(j);
    bool ok = true;
    while (ok) {
        if (j->pos >= j->len) {
            ok = fail_at(j, start, "a string that does not end");
            break;
        }
        unsigned char c = j->s[j->pos];
        if (c == '"')
            break;
        if (c < 0x20) {
            ok = c == 0 ? fail_at(j, j->pos, "NUL in a string")
                        : fail_at(j, j->pos, "a control byte 0x%02x in a string (escape it)", c);
        } else if (c >= 0x80) {
            ok = raw_utf8(j, out, &n);
        } else if (c != '\\') {
            if (out != NULL)
                out[n++] = (char)c;
            j->pos++;
        } else {
            unsigned char e = j->pos + 1 < j->len ? j->s[j->pos + 1] : 0;
            const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
            const char *hit = e != 0 ? strchr(from, e) : NULL;
            j->pos += 2;
            if (e == 'u') {
                j->pos--;
                ok = escape_u(j, out, &n);
            } else if (hit != NULL) {
                if (out != NULL)
                    out[n++] = to[hit - from];
            } else {
                ok = fail_at(j, j->pos - 2, "an unknown escape in a string");
            }
        }
    }
    if (!ok) {
        free(out);
        return false;
    }
    j->pos++;
    if (key != NULL) {
        out[n] = '\0';
        *key = (jkey){.text = out, .len = n, .at = start};
    }
    return true;
}

static bool digits(jscan *j)
{
    size_t from = j->pos;
    while (j->pos < j->len && j->s[j->pos] >= '0' && j->s[j->pos] <= '9')
        j->pos++;
    return j->pos > from;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool number(jscan *j)
{
    size_t start = j->pos;
    if (j->s[j->pos] == '-')
        j->pos++;
    if (j->pos < j->len && j->s[j->pos] == '0') {
        j->pos++;
        if (j->pos < j->len && j->s[j->pos] >= '0' && j->s[j->pos] <= '9')
            return fail_at(j, start, "a number with a leading zero");
    } else if (!digits(j)) {
        return fail_at(j, start, "a value expected (NaN and Infinity are not JSON)");
    }
    if (j->pos < j->len && j->s[j->pos] == '.') {
        j->pos++;
        if (!digits(j))
            return fail_at(j, start, "a number without digits after its '.'");
    }
    if (j->pos < j->len && (j->s[j->pos] == 'e' || j->s[j->pos] == 'E')) {
        j->pos++;
        if (j->pos < j->len && (j->s[j->pos] == '+' || j->s[j->pos] == '-'))
            j->pos++;
        if (!digits(j))
            return fail_at(j, start, "a number without digits in its exponent");
    }
    return true;
}

static bool word(jscan *j, const char *w)
{
    size_t n = strlen(w);
    if (j->len - j->pos < n || memcmp(j->s + j->pos, w, n) != 0)
        return unexpected(j, "a value");
    j->pos += n;
    return true;
}

static bool value(jscan *j);

static int key_cmp(const void *a, const void *b)
{
    const jkey *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->text, y->text, n);
    if (c != 0)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

/* After an object's keys are read: none twice. Sorted, equal keys are neighbours, in
 * the order they appear in the text. */
static bool unique_keys(jscan *j, jkey *keys, size_t n)
{
    qsort(keys, n, sizeof(*keys), key_cmp);
    for (size_t i = 1; i < n; i++) {
        if (keys[i].len == keys[i - 1].len &&
            memcmp(keys[i].text, keys[i - 1].text, keys[i].len) == 0) {
            size_t line, col;
            where(j, keys[i - 1].at, &line, &col);
            return fail_at(j, keys[i].at, "key \"%.64s\" appears twice in one object (first at "
                                          "line %zu, column %zu)",
                           keys[i].text, line, col);
        }
    }
    return true;
}

static bool members(jscan *j, jkey **keys, size_t *n, size_t *cap)
{
    for (;;) {
        skip_ws(j);
        if (j->pos >= j->len || j->s[j->pos] != '"')
            return unexpected(j, "a key in double quotes");
        if (*n == *cap) {
            size_t c = *cap ? 2 * *cap : 8;
            jkey *grown = realloc(*keys, c * sizeof(*grown));
            if (grown == NULL)
                return no_memory(j);
            *keys = grown;
            *cap = c;
        }
        if (!string(j, &(*keys)[*n]))
            return false;
        (*n)++;
        skip_ws(j);
        if (j->pos >= j->len || j->s[j->pos] != ':')
            return unexpected(j, "':'");
        j->pos++;
        if (!value(j))
            return false;
        skip_ws(j);
        if (j->pos < j->len && j->s[j->pos] == ',') {
            j->pos++;
            continue;
        }
        if (j->pos < j->len && j->s[j->pos] == '}')
            return true;
        return unexpected(j, "',' or '}'");
    }
}

static bool object(jscan *j)
{
    j->pos++;
    skip_ws(j);
    if (j->pos < j->len && j->s[j->pos] == '}') {
        j->pos++;
        return true;
    }
    jkey *keys = NULL;
    size_t n = 0, cap = 0;
    bool ok = members(j, &keys, &n, &cap) && unique_keys(j, keys, n);
    for (size_t i = 0; i < n; i++)
        free(keys[i].text);
    free(keys);
    if (ok)
        j->pos++;
    return ok;
}

static bool array(jscan *j)
{
    j->pos++;
    skip_ws(j);
    if (j->pos < j->len && j->s[j->pos] == ']') {
        j->pos++;
        return true;
    }
    for (;;) {
        if (!value(j))
            return false;
        skip_ws(j);
        if (j->pos < j->len && j->s[j->pos] == ',') {
            j->pos++;
            continue;
        }
        if (j->pos < j->len && j->s[j->pos] == ']') {
            j->pos++;
            return true;
        }
        return unexpected(j, "',' or ']'");
    }
}

static bool value(jscan *j)
{
    skip_ws(j);
    if (j->pos >= j->len)
        return unexpected(j, "a value");
    unsigned char c = j->s[j->pos];
    if (c == '{' || c == '[') {
        if (j->depth >= j->max_depth)
            return fail_at(j, j->pos, "nested more than %u deep", j->max_depth);
        j->depth++;
        bool ok = c == '{' ? object(j) : array(j);
        j->depth--;
        return ok;
    }
    if (c == '"')
        return string(j, NULL);
    if (c == '-' || (c >= '0' && c <= '9'))
        return number(j);
    if (c == 't')
        return word(j, "true");
    if (c == 'f')
        return word(j, "false");
    if (c == 'n')
        return word(j, "null");
    if (c == 'N' || c == 'I')
        return fail_at(j, j->pos, "a value expected (NaN and Infinity are not JSON)");
    return unexpected(j, "a value");
}

srtm_err json_strict_check(const char *text, size_t len, unsigned max_depth, char *msg,
                           size_t msg_size)
{
    jscan j = {.s = (const unsigned char *)text, .len = len, .max_depth = max_depth,
               .msg = msg, .msg_size = msg_size};
    if (msg != NULL && msg_size > 0)
        msg[0] = '\0';
    skip_ws(&j);
    if (j.pos >= len)
        fail_at(&j, j.pos, "empty: must be a JSON object");
    else if (j.s[j.pos] != '{')
        fail_at(&j, j.pos, "must be a JSON object");
    else if (value(&j)) {
        skip_ws(&j);
        if (j.pos < len)
            fail_at(&j, j.pos, "text after the JSON object");
    }
    return j.err;
}
