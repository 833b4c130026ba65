/* Helpers shared by the evidence descriptions (show.c, cel.c). */
#ifndef SRTM_SHOW_INT_H
#define SRTM_SHOW_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include <srtm/srtm.h>

/* Adds v under key of o (show_push: to array a), taking v; false (v released) when
 * anything is NULL. */
bool show_put(json_object *o, const char *key, json_object *v);
bool show_push(json_object *a, json_object *v);
/* A JSON string of len bytes in hex (at most 4096 bytes), or NULL. */
json_object *show_hex(const uint8_t *d, size_t len);
/* o as compact JSON text into *json_out (malloc'd); releases o. */
srtm_err show_finish(json_object *o, char **json_out);

#endif
