/*
 * 'srtmctl log --format cel': one CCR's log, as srtmd holds it now, as a TCG Canonical
 * Event Log in its JSON encoding, streamed record by record (any log length in constant
 * memory). The same record shape as 'srtmctl show --format cel' (docs/evidence.md, "The
 * CCR logs as a Canonical Event Log"), for one register: pcr is the CCR index, the content
 * names the component; reverted measurements and revert markers are not records.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

static json_object *cel_record(uint64_t recnum, const char *name, uint32_t ccr,
                               const srtm_log_entry *e)
{
    json_object *r = json_object_new_object(), *digests = json_object_new_array();
    json_object *d = json_object_new_object(), *content = json_object_new_object();
    bool ok = jput(r, "recnum", json_object_new_uint64(recnum));
    ok = ok && jput(r, "pcr", json_object_new_uint64(ccr));
    ok = ok && jput(d, "hashAlg", json_object_new_string("sha256"));
    ok = ok && jput_hex(d, "digest", srtm_log_entry_digest(e), SRTM_DIGEST_LEN);
    if (digests == NULL || json_object_array_add(digests, d) != 0) {
        ok = false;
        json_object_put(d);
    }
    d = NULL;
    ok = jput(r, "digests", digests) && ok;
    digests = NULL;
    ok = ok && jput(r, "content_type", json_object_new_string("srtm_ccr"));
    ok = ok && jput(content, "component", json_object_new_string(name));
    ok = ok && jput(content, "seq", json_object_new_uint64(srtm_log_entry_seq(e)));
    ok = ok && jput(content, "event_type", json_object_new_uint64(srtm_log_entry_event_type(e)));
    ok = ok && jput(content, "description",
                    json_object_new_string(srtm_log_entry_description(e)));
    ok = jput(r, "content", content) && ok;
    content = NULL;
    json_object_put(d);
    json_object_put(digests);
    json_object_put(content);
    if (!ok) {
        json_object_put(r);
        return NULL;
    }
    return r;
}

int log_cel(const ctx *c, const char *name, uint32_t ccr, srtm_log_iter *it)
{
    const srtm_log_entry *e = NULL;
    srtm_err err;
    uint64_t recnum = 0;
    fputs("[", stdout);
    while ((err = srtm_log_next(it, &e)) == SRTM_OK) {
        if (srtm_log_entry_is_revert(e) || srtm_log_entry_reverted(e))
            continue;
        json_object *r = cel_record(recnum, name, ccr, e);
        if (r == NULL)
            return fail(c, SRTM_E_NO_MEMORY);
        printf("%s%s", recnum++ ? "," : "", json_object_to_json_string_ext(r, JSON_FLAGS));
        json_object_put(r);
    }
    puts("]");
    return err == SRTM_E_END ? CTL_OK : fail(c, err);
}
