/*
 * srtmctl's output helpers: escaped text fields and one-line JSON. The JSON vocabulary
 * every command follows is documented in docs/json.md.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

void print_escaped_set(const char *s, const char *extra)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '\\')
            fputs("\\\\", stdout);
        else if (*p < 0x20 || *p == 0x7f || strchr(extra, *p) != NULL)
            printf("\\x%02x", *p);
        else
            putchar(*p);
    }
}

void print_escaped(const char *s, bool escape_space)
{
    print_escaped_set(s, escape_space ? " " : "");
}

bool jput(json_object *o, const char *key, json_object *v)
{
    if (o == NULL || v == NULL || json_object_object_add(o, key, v) != 0) {
        json_object_put(v);
        return false;
    }
    return true;
}

bool jput_hex(json_object *o, const char *key, const uint8_t *bytes, size_t len)
{
    char hex[2 * SRTM_DIGEST_LEN + 1];
    if (len > SRTM_DIGEST_LEN || hex_encode(bytes, len, hex, sizeof(hex)) != SRTM_OK)
        return false;
    return jput(o, key, json_object_new_string(hex));
}

/*
 * Prints JSON text as one line, always valid UTF-8: json-c copies bytes >= 0x80 as they
 * are, so a string from outside (a name, a description) that is not UTF-8 would make the
 * whole line invalid JSON. Such bytes occur only inside strings (everything else json-c
 * writes is ASCII), and each is written as \ufffd instead.
 */
static void puts_json(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p != '\0') {
        size_t n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3 : 4;
        if (strnlen((const char *)p, n) == n && utf8_valid((const char *)p, n)) {
            fwrite(p, 1, n, stdout);
            p += n;
        } else {
            fputs("\\ufffd", stdout);
            p++;
        }
    }
    putchar('\n');
}

int emit_json(json_object *o, bool ok)
{
    const char *s = ok && o != NULL ? json_object_to_json_string_ext(o, JSON_FLAGS) : NULL;
    int rc = CTL_OK;
    if (s == NULL) {
        fprintf(stderr, "srtmctl: out of memory building JSON output\n");
        rc = CTL_FAILED;
    } else {
        puts_json(s);
    }
    json_object_put(o);
    return rc;
}

/* Best effort against the capability lingering in freed heap: the printed text and the
 * string under key are json-c's own malloc'ed buffers, so writing through them is defined. */
int emit_json_secret(json_object *o, const char *key, bool ok)
{
    const char *s = ok ? json_object_to_json_string_ext(o, JSON_FLAGS) : NULL;
    if (s == NULL)
        return emit_json(o, false);
    puts(s);
    explicit_bzero((char *)s, strlen(s));
    json_object *secret = NULL;
    if (json_object_object_get_ex(o, key, &secret)) {
        const char *v = json_object_get_string(secret);
        explicit_bzero((char *)v, strlen(v));
    }
    json_object_put(o);
    return CTL_OK;
}

bool fill_array(json_object *arr, size_t n, json_object *(*item)(const void *, size_t),
                const void *src)
{
    for (size_t i = 0; i < n; i++) {
        json_object *e = item(src, i);
        if (e == NULL || json_object_array_add(arr, e) != 0) {
            json_object_put(e);
            return false;
        }
    }
    return true;
}

int print_change(const ctx *c, const char *component, const char *key, const char *val,
                 uint64_t seq)
{
    if (!c->g.json) {
        printf("seq %llu\n", (unsigned long long)seq);
        return CTL_OK;
    }
    json_object *o = json_object_new_object();
    bool ok = jput(o, "component", json_object_new_string(component));
    if (key != NULL)
        ok = ok && jput(o, key, json_object_new_string(val));
    ok = ok && jput(o, "seq", json_object_new_uint64(seq));
    return emit_json(o, ok);
}
