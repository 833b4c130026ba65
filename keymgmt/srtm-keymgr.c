/*
 * srtm-keymgr: the key management entity M of the paper (section 5), as a command-line
 * tool run by the platform's administrator.
 *   enroll    create the AIK in the TPM (or take the one there) and export its public key
 *   predict   compute the SRTM-proof-PCR values (and the values after the close event)
 *             for a given srtmd binary and configuration: the reference verifiers use
 *   wrap-irk  create an IRK and seal it so that only this TPM, in the predicted proof
 *             state, can unseal it (case MIT)
 *   rewrap    predict and wrap for a new srtmd or configuration before the reboot, so an
 *             update never needs the IRK exposed (acTvSM's calculated future states)
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "irk.h"
#include "km.h"
#include "launch.h"

#define DEFAULT_AIK_HANDLE 0x81010002u
#define DEFAULT_SRTM_PCR 15u
#define DEFAULT_PROOF_PCRS 0x000000FFu
#define CLOSE_TAG "srtm: SRTM-proof-period closed" /* as srtm/close.h */

typedef struct opts {
    const char *tcti;
    const char *owner_auth; /* -P: the owner hierarchy's authorization value */
    uint32_t aik_handle;
    const char *aik_pem, *aik_public;
    const char *srtmd, *config, *out, *reference, *reference_out;
    srtm_config *cfg; /* --config, parsed as srtmd parses it; NULL: none */
    unsigned srtm_pcr;
    uint32_t proof_mask;
    uint8_t srtm_base[SRTM_DIGEST_LEN];
    bool reuse, force;
} opts;

static void usage(FILE *f)
{
    fprintf(f,
        "Usage: srtm-keymgr [--tcti STRING] [-P AUTH] COMMAND [OPTION]...\n"
        "The key management entity of srtm: the AIK, the reference PCR values and the IRK.\n"
        "\n"
        "  --tcti STRING        the TPM, a tctildr string (default: tctildr's search,\n"
        "                       quietly; TSS2_LOG=tcti+debug shows what it tried)\n"
        "  -P, --owner-auth AUTH  the owner hierarchy's password (tpm2_changeauth -c\n"
        "                       owner), or hex:HEX, or file:PATH (file:- for standard\n"
        "                       input) holding either, which keeps it off the command\n"
        "                       line; wrap-irk and enroll work under it\n"
        "\n"
        "Commands:\n"
        "  enroll   --aik-pem FILE [--aik-public FILE] [--aik-handle HEX] [--reuse]\n"
        "           [--force]\n"
        "           create the AIK (ECC P-256, endorsement hierarchy) at the persistent\n"
        "           handle (default 0x%08x) and write its public key as PEM (and as a\n"
        "           marshalled TPM2B_PUBLIC); --reuse takes an AIK already there,\n"
        "           --force replaces existing output files\n"
        "  predict  --srtmd BIN [--config FILE] [--srtm-pcr N] [--proof-pcrs LIST]\n"
        "           [--srtm-pcr-base HEX] -o REFERENCE.json\n"
        "           (SRTM PCR and proof PCRs default to those in srtmd's --config file)\n"
        "           the PCR values during the proof period and after its close, from the\n"
        "           boot PCRs as they are now and the SRTM PCR's value before the launch\n"
        "           (default 32 zero bytes: its reset value)\n"
        "  wrap-irk --reference REFERENCE.json -o SEALED [--force]\n"
        "           create an IRK and seal it to the reference's proof values in this TPM\n"
        "           (a missing directory of SEALED is created, mode 0700)\n"
        "           (not needed with srtmd's irk-scheme perboot, which stores no IRK)\n"
        "  rewrap   --srtmd NEWBIN [--config NEWFILE] [predict options] -o SEALED\n"
        "           --reference-out REFERENCE.json [--force]\n"
        "           predict and wrap for an update, before rebooting into it (perboot:\n"
        "           predict alone)\n"
        "\n"
        "--version shows the version. Every command takes --help. Exit status: 0 done; 1 failed (the message says\n"
        "why); 2 usage error.\n",
        DEFAULT_AIK_HANDLE);
}

/*
 * The directory path goes in, created (one level, mode dir_mode) when it is missing: on a
 * new machine /var/lib/srtm may not exist yet. Its own parent must exist: a mistyped path
 * is refused, not built.
 */
static bool make_parent(const char *path, mode_t dir_mode)
{
    char dir[PATH_MAX];
    struct stat st;
    if (!path_dir(path, dir, sizeof(dir))) {
        fprintf(stderr, "srtm-keymgr: cannot create %s: path too long\n", path);
        return false;
    }
    if (stat(dir, &st) == 0 || errno != ENOENT)
        return true; /* anything else is reported when the file is created */
    if (mkdir(dir, dir_mode) != 0) {
        fprintf(stderr, "srtm-keymgr: cannot create the directory %s for %s: %s\n", dir, path,
                strerror(errno));
        return false;
    }
    fprintf(stderr, "srtm-keymgr: created the directory %s (mode %04o)\n", dir,
            (unsigned)dir_mode);
    return true;
}

/*
 * Write data to path (mode 0644 for public data, 0600 otherwise) through a temporary file
 * in the same directory: write, fsync, then rename over path (--force) or link to path
 * (which fails if it exists). A full disk or a crash leaves either the old file or the
 * whole new one, never a truncated blob, and no temporary file.
 */
static bool write_file(const char *path, const void *data, size_t len, mode_t mode, bool force)
{
    char tmp[PATH_MAX];
    if (!make_parent(path, mode == 0600 ? 0700 : 0755))
        return false;
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= sizeof(tmp)) {
        fprintf(stderr, "srtm-keymgr: cannot create %s: path too long\n", path);
        return false;
    }
    struct stat st;
    if (!force && lstat(path, &st) == 0) {
        fprintf(stderr, "srtm-keymgr: cannot create %s: %s (use --force to replace it)\n", path,
                strerror(EEXIST));
        return false;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
        fprintf(stderr, "srtm-keymgr: cannot create %s (temporary file %s): %s\n", path, tmp,
                strerror(errno));
        return false;
    }
    int saved = fchmod(fd, mode) == 0 ? 0 : errno;
    if (saved == 0)
        saved = write_full(fd, data, len);
    if (saved == 0 && fsync(fd) != 0)
        saved = errno;
    if (close(fd) != 0 && saved == 0)
        saved = errno;
    if (saved == 0) {
        /* link refuses an existing path: no overwrite without --force, even in a race. */
        if (force ? rename(tmp, path) != 0 : link(tmp, path) != 0)
            saved = errno;
        else if (!force)
            unlink(tmp);
    }
    if (saved != 0) {
        unlink(tmp);
        fprintf(stderr, "srtm-keymgr: cannot write %s: %s%s\n", path, strerror(saved),
                saved == EEXIST ? " (use --force to replace it)" : "");
        return false;
    }
    return true;
}

/* The longest content of a -P file:PATH: "hex:" and 64 bytes in hex, and a newline. */
#define OWNER_AUTH_FILE_MAX (4 + 2 * 64 + 2)

/*
 * -P file:PATH (file:- for standard input): the authorization value read from a file, so
 * that it never appears on a command line, which every local user can read in /proc. One
 * trailing newline (or CR LF) is dropped; what remains is read as -P reads its argument.
 * out (size bytes) receives it NUL-terminated; the caller wipes it.
 */
static srtm_err read_owner_auth(const char *path, char *out, size_t size)
{
    /* read(2), not stdio: no buffer of libc's keeps a copy. */
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "srtm-keymgr: -P file:%s: %s\n", path, strerror(errno));
        return SRTM_E_IO;
    }
    size_t n = 0;
    bool failed = false;
    while (n < size - 1) {
        ssize_t r = read(fd, out + n, size - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        failed = r < 0;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    char extra;
    bool more = !failed && n == size - 1 && read(fd, &extra, 1) == 1;
    if (fd != STDIN_FILENO)
        close(fd);
    out[n] = '\0';
    if (n > 0 && out[n - 1] == '\n')
        out[--n] = '\0';
    if (n > 0 && out[n - 1] == '\r')
        out[--n] = '\0';
    if (failed || more || strlen(out) != n) {
        fprintf(stderr, "srtm-keymgr: -P file:%s: %s\n", path,
                failed ? "cannot read it" : "over 64 bytes, or holds a NUL byte");
        return failed ? SRTM_E_IO : SRTM_E_TOO_BIG;
    }
    return SRTM_OK;
}

static srtm_err open_tpm(const opts *o, km_ctx **ctx)
{
    srtm_err err = km_open(o->tcti, ctx);
    if (err != SRTM_OK)
        fprintf(stderr, "srtm-keymgr: cannot use the TPM (%s): %s%s\n",
                o->tcti ? o->tcti : "tctildr default", srtm_strerror(err),
                o->tcti ? "" : "; name it with --tcti (e.g. device:/dev/tpmrm0), or see "
                               "what tctildr tried with TSS2_LOG=tcti+debug");
    if (err == SRTM_OK && o->owner_auth != NULL) {
        char from_file[OWNER_AUTH_FILE_MAX + 2];
        const char *auth = o->owner_auth;
        if (strncmp(auth, "file:", 5) == 0) {
            err = read_owner_auth(auth + 5, from_file, sizeof(from_file));
            auth = from_file;
        }
        if (err == SRTM_OK)
            err = km_set_owner_auth(*ctx, auth);
        OPENSSL_cleanse(from_file, sizeof(from_file));
        if (err != SRTM_OK) {
            fprintf(stderr, "srtm-keymgr: -P: %s (at most 64 bytes, or hex:HEX, or file:PATH "
                            "holding either)\n",
                    srtm_strerror(err));
            km_close(*ctx);
            *ctx = NULL;
        }
    }
    return err;
}

/* ---- enroll ---- */

static int cmd_enroll(const opts *o)
{
    if (o->aik_pem == NULL) {
        fprintf(stderr, "srtm-keymgr enroll: --aik-pem FILE is required\n");
        return 2;
    }
    km_ctx *ctx = NULL;
    if (open_tpm(o, &ctx) != SRTM_OK)
        return 1;
    const km_aik *aik = NULL;
    srtm_err err = km_aik_create(ctx, o->aik_handle, &aik);
    if (err == SRTM_E_EXISTS && o->reuse)
        err = km_aik_load(ctx, o->aik_handle, &aik);
    else if (err == SRTM_E_EXISTS)
        fprintf(stderr, "srtm-keymgr: handle 0x%08x is in use; --reuse takes the AIK there\n",
                o->aik_handle);
    char pem[KM_MAX_PEM];
    size_t pem_len = 0;
    uint8_t pub[KM_MAX_PUBLIC];
    size_t pub_len = 0;
    if (err == SRTM_OK)
        err = km_aik_pem(aik, pem, sizeof(pem), &pem_len);
    if (err == SRTM_OK && o->aik_public != NULL)
        err = km_aik_public(aik, pub, sizeof(pub), &pub_len);
    km_close(ctx);
    if (err != SRTM_OK) {
        fprintf(stderr, "srtm-keymgr: enroll failed: %s\n", srtm_strerror(err));
        return 1;
    }
    if (!write_file(o->aik_pem, pem, pem_len, 0644, o->force) ||
        (o->aik_public != NULL && !write_file(o->aik_public, pub, pub_len, 0644, o->force)))
        return 1;
    printf("AIK at 0x%08x; public key in %s\n", o->aik_handle, o->aik_pem);
    return 0;
}

/* ---- predict ---- */

typedef struct prediction {
    launch_measurement launch;
    uint8_t close_event[SRTM_DIGEST_LEN];
    km_pcr_values proof, running;
} prediction;

static srtm_err predict(const opts *o, prediction *p)
{
    srtm_err err = launch_measure(o->srtmd, o->cfg, &p->launch);
    if (err != SRTM_OK) {
        fprintf(stderr, "srtm-keymgr: cannot read %s or %s\n", o->srtmd,
                o->config ? o->config : "(no config)");
        return err;
    }
    err = srtm_sha256(CLOSE_TAG, strlen(CLOSE_TAG), p->close_event);
    uint32_t boot_mask = o->proof_mask & ~(1u << o->srtm_pcr);
    memset(&p->proof, 0, sizeof(p->proof));
    if (err == SRTM_OK && boot_mask != 0) {
        km_ctx *ctx = NULL;
        if ((err = open_tpm(o, &ctx)) != SRTM_OK)
            return err;
        err = km_pcr_read(ctx, boot_mask, &p->proof);
        km_close(ctx);
    }
    if (err != SRTM_OK)
        return err;
    p->proof.mask = o->proof_mask;
    err = km_pcr_extend_sw(o->srtm_base, p->launch.event, p->proof.value[o->srtm_pcr]);
    p->running = p->proof;
    if (err == SRTM_OK)
        err = km_pcr_extend_sw(p->proof.value[o->srtm_pcr], p->close_event,
                               p->running.value[o->srtm_pcr]);
    return err;
}

static json_object *hex_json(const uint8_t *b, size_t n)
{
    char hex[2 * 64 + 1];
    if (n > 64 || hex_encode(b, n, hex, sizeof(hex)) != SRTM_OK)
        return NULL;
    return json_object_new_string(hex);
}

static json_object *pcrs_json(const km_pcr_values *v)
{
    json_object *o = json_object_new_object();
    for (unsigned i = 0; o != NULL && i < KM_PCR_COUNT; i++) {
        if (!(v->mask & (1u << i)))
            continue;
        char key[4];
        snprintf(key, sizeof(key), "%u", i);
        json_object_object_add(o, key, hex_json(v->value[i], SRTM_DIGEST_LEN));
    }
    return o;
}

static bool write_reference(const opts *o, const prediction *p, const char *path)
{
    json_object *r = json_object_new_object();
    json_object *launch = json_object_new_object();
    json_object_object_add(r, "format", json_object_new_string("srtm-reference-v1"));
    json_object_object_add(r, "bank", json_object_new_string("sha256"));
    json_object_object_add(r, "srtm_pcr", json_object_new_int((int)o->srtm_pcr));
    json_object_object_add(launch, "srtmd_sha256", hex_json(p->launch.binary, SRTM_DIGEST_LEN));
    json_object_object_add(launch, "config_sha256", hex_json(p->launch.config, SRTM_DIGEST_LEN));
    json_object_object_add(launch, "event", hex_json(p->launch.event, SRTM_DIGEST_LEN));
    json_object_object_add(r, "launch", launch);
    json_object_object_add(r, "close_event", hex_json(p->close_event, SRTM_DIGEST_LEN));
    json_object_object_add(r, "proof", pcrs_json(&p->proof));
    json_object_object_add(r, "running", pcrs_json(&p->running));
    const char *text = json_object_to_json_string_ext(r, JSON_C_TO_STRING_PRETTY);
    size_t n = text != NULL ? strlen(text) : 0;
    char *buf = text != NULL ? malloc(n + 2) : NULL;
    bool ok = buf != NULL;
    if (ok) {
        memcpy(buf, text, n);
        buf[n] = '\n';
        ok = write_file(path, buf, n + 1, 0644, o->force);
    }
    free(buf);
    json_object_put(r);
    return ok;
}

static int cmd_predict(const opts *o)
{
    if (o->srtmd == NULL || o->out == NULL) {
        fprintf(stderr, "srtm-keymgr predict: --srtmd BIN and -o FILE are required\n");
        return 2;
    }
    prediction p;
    if (predict(o, &p) != SRTM_OK || !write_reference(o, &p, o->out))
        return 1;
    printf("reference for PCRs in %s (SRTM PCR %u)\n", o->out, o->srtm_pcr);
    return 0;
}

/* ---- wrap ---- */

/* The proof values of a reference file: {"proof": {"0": hex, ...}}. */
static bool read_reference(const char *path, km_pcr_values *proof)
{
    json_object *r = json_object_from_file(path);
    json_object *p = NULL;
    bool ok = r != NULL && json_object_object_get_ex(r, "proof", &p) &&
              json_object_is_type(p, json_type_object);
    memset(proof, 0, sizeof(*proof));
    if (ok) {
        json_object_object_foreach(p, key, val)
        {
            char *end = NULL;
            unsigned long i = strtoul(key, &end, 10);
            const char *hex = json_object_get_string(val);
            if (*end != '\0' || i >= KM_PCR_COUNT || hex == NULL ||
                hex_decode(hex, strlen(hex), proof->value[i], SRTM_DIGEST_LEN) != SRTM_OK) {
                ok = false;
                break;
            }
            proof->mask |= 1u << i;
        }
    }
    ok = ok && proof->mask != 0;
    if (!ok)
        fprintf(stderr, "srtm-keymgr: %s is not a reference file of srtm-keymgr predict\n",
                path);
    json_object_put(r);
    return ok;
}

static int wrap(const opts *o, const km_pcr_values *proof)
{
    uint8_t policy[KM_DIGEST_LEN], der[IRK_PRIV_DER_MAX];
    size_t der_len = 0;
    km_sealed sealed;
    irk *k = NULL;
    km_ctx *ctx = NULL;
    srtm_err err = km_policy_pcr(NULL, proof, policy);
    if (err == SRTM_OK)
        err = irk_generate(&k);
    if (err == SRTM_OK)
        err = irk_private_der(k, der, &der_len);
    if (err == SRTM_OK)
        err = open_tpm(o, &ctx);
    if (err == SRTM_OK)
        err = km_seal(ctx, KM_PARENT_PRIMARY, policy, der, der_len, &sealed);
    /* M keeps no copy: the IRK exists only sealed to the proof state from here on. */
    OPENSSL_cleanse(der, sizeof(der));
    irk_free(k);
    km_close(ctx);
    if (err != SRTM_OK) {
        fprintf(stderr, "srtm-keymgr: cannot wrap the IRK: %s\n", srtm_strerror(err));
        return 1;
    }
    if (!write_file(o->out, sealed.blob, sealed.len, 0600, o->force))
        return 1;
    printf("IRK sealed to PCRs 0x%06x in their proof state: %s\n", proof->mask, o->out);
    return 0;
}

static int cmd_wrap(const opts *o)
{
    if (o->reference == NULL || o->out == NULL) {
        fprintf(stderr, "srtm-keymgr wrap-irk: --reference FILE and -o FILE are required\n");
        return 2;
    }
    km_pcr_values proof;
    if (!read_reference(o->reference, &proof))
        return 1;
    return wrap(o, &proof);
}

static int cmd_rewrap(const opts *o)
{
    if (o->srtmd == NULL || o->out == NULL || o->reference_out == NULL) {
        fprintf(stderr, "srtm-keymgr rewrap: --srtmd BIN, -o SEALED and --reference-out FILE "
                        "are required\n");
        return 2;
    }
    prediction p;
    if (predict(o, &p) != SRTM_OK || !write_reference(o, &p, o->reference_out))
        return 1;
    return wrap(o, &p.proof);
}

/* ---- arguments ---- */

typedef struct command {
    const char *name;
    int (*run)(const opts *o);
} command;

static const command commands[] = {
    {"enroll", cmd_enroll},
    {"predict", cmd_predict},
    {"wrap-irk", cmd_wrap},
    {"rewrap", cmd_rewrap},
};

int main(int argc, char **argv)
{
    enum { O_TCTI = 256, O_AIKH, O_PEM, O_PUB, O_SRTMD, O_CONFIG, O_PCR, O_PCRS, O_BASE,
           O_REF, O_REFOUT, O_REUSE, O_FORCE, O_HELP, O_VERSION, O_AUTH = 'P' };
    static const struct option longopts[] = {
        {"tcti", required_argument, NULL, O_TCTI},
        {"aik-handle", required_argument, NULL, O_AIKH},
        {"aik-pem", required_argument, NULL, O_PEM},
        {"aik-public", required_argument, NULL, O_PUB},
        {"srtmd", required_argument, NULL, O_SRTMD},
        {"config", required_argument, NULL, O_CONFIG},
        {"srtm-pcr", required_argument, NULL, O_PCR},
        {"proof-pcrs", required_argument, NULL, O_PCRS},
        {"srtm-pcr-base", required_argument, NULL, O_BASE},
        {"reference", required_argument, NULL, O_REF},
        {"reference-out", required_argument, NULL, O_REFOUT},
        {"reuse", no_argument, NULL, O_REUSE},
        {"force", no_argument, NULL, O_FORCE},
        {"help", no_argument, NULL, O_HELP},
        {"version", no_argument, NULL, O_VERSION},
        {"owner-auth", required_argument, NULL, O_AUTH},
        {NULL, 0, NULL, 0},
    };
    opts o = {.aik_handle = DEFAULT_AIK_HANDLE,
              .srtm_pcr = DEFAULT_SRTM_PCR,
              .proof_mask = DEFAULT_PROOF_PCRS};
    const command *cmd = NULL;
    bool help = false, pcr_given = false, pcrs_given = false;
    srtm_log_detect_journal();
    /* Options may come before or after the command name. */
    int c;
    while ((c = getopt_long(argc, argv, "+o:P:", longopts, NULL)) != -1 || optind < argc) {
        if (c == -1) {
            if (cmd != NULL) {
                fprintf(stderr, "srtm-keymgr: unexpected argument '%s'\n", argv[optind]);
                return 2;
            }
            for (size_t i = 0; i < SRTM_ARRAY_LEN(commands); i++)
                if (strcmp(argv[optind], commands[i].name) == 0)
                    cmd = &commands[i];
            if (cmd == NULL) {
                fprintf(stderr, "srtm-keymgr: unknown command '%s' (see --help)\n",
                        argv[optind]);
                return 2;
            }
            optind++;
            continue;
        }
        char *end = NULL;
        unsigned long v;
        switch (c) {
        case O_TCTI:
            o.tcti = optarg;
            break;
        case O_AUTH:
            o.owner_auth = optarg;
            break;
        case O_AIKH:
            errno = 0;
            v = strtoul(optarg, &end, 16);
            if (errno != 0 || *end != '\0' || v < KM_PERSISTENT_FIRST || v > KM_PERSISTENT_LAST) {
                fprintf(stderr, "srtm-keymgr: --aik-handle takes 0x%08x..0x%08x\n",
                        KM_PERSISTENT_FIRST, KM_PERSISTENT_LAST);
                return 2;
            }
            o.aik_handle = (uint32_t)v;
            break;
        case O_PEM:
            o.aik_pem = optarg;
            break;
        case O_PUB:
            o.aik_public = optarg;
            break;
        case O_SRTMD:
            o.srtmd = optarg;
            break;
        case O_CONFIG:
            o.config = optarg;
            break;
        case O_PCR:
            errno = 0;
            v = strtoul(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || v >= KM_PCR_COUNT) {
                fprintf(stderr, "srtm-keymgr: --srtm-pcr takes 0 to 23\n");
                return 2;
            }
            o.srtm_pcr = (unsigned)v;
            pcr_given = true;
            break;
        case O_PCRS:
            if (!launch_parse_pcr_list(optarg, &o.proof_mask)) {
                fprintf(stderr, "srtm-keymgr: --proof-pcrs takes e.g. 0-7,9\n");
                return 2;
            }
            pcrs_given = true;
            break;
        case O_BASE:
            if (hex_decode(optarg, strlen(optarg), o.srtm_base, SRTM_DIGEST_LEN) != SRTM_OK) {
                fprintf(stderr, "srtm-keymgr: --srtm-pcr-base takes 64 hex digits\n");
                return 2;
            }
            break;
        case 'o':
            o.out = optarg;
            break;
        case O_REF:
            o.reference = optarg;
            break;
        case O_REFOUT:
            o.reference_out = optarg;
            break;
        case O_REUSE:
            o.reuse = true;
            break;
        case O_FORCE:
            o.force = true;
            break;
        case O_HELP:
            help = true;
            break;
        case O_VERSION:
            printf("srtm-keymgr %s\n", SRTM_VERSION_STRING);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (help || cmd == NULL) {
        usage(help ? stdout : stderr);
        return help ? 0 : 2;
    }
    /* srtmd's configuration, read once with srtmd's grammar: the bytes measured are the
     * bytes parsed. Its SRTM PCR and proof PCRs count unless the command line names them,
     * so the prediction matches what srtmd uses. */
    char msg[CONFIG_MSG_MAX];
    if (o.config != NULL && config_load(o.config, &o.cfg, NULL, msg, sizeof(msg)) != SRTM_OK) {
        fprintf(stderr, "srtm-keymgr: %s\n", msg);
        return 2;
    }
    const char *value = config_get(o.cfg, CFG_SRTM_PCR);
    if (!pcr_given && value != NULL && !launch_parse_pcr(value, &o.srtm_pcr)) {
        fprintf(stderr, "srtm-keymgr: %s:%u: bad srtm-pcr\n", o.config,
                config_line(o.cfg, CFG_SRTM_PCR));
        config_free(o.cfg);
        return 2;
    }
    value = config_get(o.cfg, CFG_PROOF_PCRS);
    if (!pcrs_given && value != NULL && !launch_parse_pcr_list(value, &o.proof_mask)) {
        fprintf(stderr, "srtm-keymgr: %s:%u: bad proof-pcrs\n", o.config,
                config_line(o.cfg, CFG_PROOF_PCRS));
        config_free(o.cfg);
        return 2;
    }
    o.proof_mask |= 1u << o.srtm_pcr;
    /* tctildr's default search logs an ERROR for every TPM it does not find before the
     * one it uses; open_tpm says what failed and how to see those (TSS2_LOG wins). */
    if (o.tcti == NULL && setenv("TSS2_LOG", "tcti+none", 0) != 0)
        fprintf(stderr, "srtm-keymgr: setenv: %s\n", strerror(errno));
    int rc = cmd->run(&o);
    config_free(o.cfg);
    return rc;
}
