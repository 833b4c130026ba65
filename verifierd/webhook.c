/*
 * The verdict-change webhook (webhook.h): a bounded queue of serialised events and one
 * sender thread POSTing them with libcurl, retrying with back-off.
 */
#include "webhook.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

typedef struct event {
    struct event *next;
    size_t len;
    char body[]; /* len bytes of JSON and a NUL */
} event;

struct webhook {
    char *url, *ca_file;
    uint8_t secret[WEBHOOK_SECRET_MAX];
    size_t secret_len;
    unsigned queue_max, attempts;
    long timeout_ms;
    pthread_t thread;
    pthread_mutex_t lock; /* covers everything below */
    pthread_cond_t wake;
    event *head, *tail;
    unsigned n;
    bool stopping;
    atomic_bool abort_now; /* set at stop: the request in flight is abandoned */
    webhook_counts c;
};

static srtm_err fail(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    return SRTM_E_INVALID;
}

static srtm_err check_config(const webhook_config *cfg, char *err, size_t errlen)
{
    if (cfg->url == NULL || (strncmp(cfg->url, "http://", 7) != 0 &&
                             strncmp(cfg->url, "https://", 8) != 0))
        return fail(err, errlen, "the webhook URL must start with http:// or https://");
    if (strlen(cfg->url) > 2048)
        return fail(err, errlen, "the webhook URL is longer than 2048 bytes");
    if (cfg->secret != NULL &&
        (cfg->secret_len < WEBHOOK_SECRET_MIN || cfg->secret_len > WEBHOOK_SECRET_MAX))
        return fail(err, errlen, "the webhook secret must be 16 to 1024 bytes");
    if (cfg->queue_max > WEBHOOK_QUEUE_MAX || cfg->attempts > 10 || cfg->timeout_ms < 0 ||
        cfg->timeout_ms > 600000)
        return fail(err, errlen, "a webhook limit is out of range");
    return SRTM_OK;
}

/* X-Srtm-Signature: sha256=HMAC-SHA256(secret, body) in hex, into out. */
static bool sign(const webhook *w, const char *body, size_t len, char *out, size_t size)
{
    uint8_t mac[SRTM_DIGEST_LEN];
    size_t mac_len = 0;
    char hex[2 * SRTM_DIGEST_LEN + 1];
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = m != NULL ? EVP_MAC_CTX_new(m) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end()};
    bool ok = ctx != NULL && EVP_MAC_init(ctx, w->secret, w->secret_len, params) == 1 &&
              EVP_MAC_update(ctx, (const uint8_t *)body, len) == 1 &&
              EVP_MAC_final(ctx, mac, &mac_len, sizeof(mac)) == 1 && mac_len == sizeof(mac) &&
              hex_encode(mac, sizeof(mac), hex, sizeof(hex)) == SRTM_OK;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(m);
    if (ok)
        snprintf(out, size, "X-Srtm-Signature: sha256=%s", hex);
    return ok;
}

static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
    (void)p;
    (void)ctx;
    return size * n;
}

/* libcurl's progress callback (at least once a second): non-zero abandons the request. */
static int progress(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    return atomic_load(&((webhook *)ctx)->abort_now) ? 1 : 0;
}

/* One POST of e; true on a 2xx answer. */
static bool post(webhook *w, CURL *curl, const event *e)
{
    char sig[128];
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *h2 = h != NULL ? curl_slist_append(h, "X-Srtm-Event: verdict-change") : NULL;
    bool ok = h2 != NULL;
    if (ok && w->secret_len > 0)
        ok = sign(w, e->body, e->len, sig, sizeof(sig)) && curl_slist_append(h2, sig) != NULL;
    long code = 0;
    curl_easy_reset(curl);
    ok = ok && curl_easy_setopt(curl, CURLOPT_URL, w->url) == CURLE_OK &&
         curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
         curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
         curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
         curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, w->timeout_ms) == CURLE_OK &&
         curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h) == CURLE_OK &&
         curl_easy_setopt(curl, CURLOPT_POSTFIELDS, (const char *)&e->body[0]) == CURLE_OK &&
         curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)e->len) == CURLE_OK &&
         curl_easy_setopt(curl, CURLOPT_USERAGENT, "srtm-verifierd") == CURLE_OK &&
         curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard) == CURLE_OK &&
         curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L) == CURLE_OK &&
         curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, progress) == CURLE_OK &&
         curl_easy_setopt(curl, CURLOPT_XFERINFODATA, w) == CURLE_OK &&
         (w->ca_file == NULL ||
          curl_easy_setopt(curl, CURLOPT_CAINFO, w->ca_file) == CURLE_OK);
    CURLcode rc = ok ? curl_easy_perform(curl) : CURLE_FAILED_INIT;
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    if (rc != CURLE_OK || code < 200 || code > 299)
        srtm_log(SRTM_LOG_DEBUG, "webhook: %s", rc != CURLE_OK ? curl_easy_strerror(rc)
                                                               : "the receiver did not answer 2xx");
    return rc == CURLE_OK && code >= 200 && code <= 299;
}

/* Wait ms or until stop; true when stopping. Lock held. */
static bool pause_ms(webhook *w, long ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (!w->stopping && pthread_cond_timedwait(&w->wake, &w->lock, &until) == 0)
        ;
    return w->stopping;
}

/* Deliver e with up to w->attempts tries; lock held on entry and exit. */
static void deliver(webhook *w, CURL *curl, const event *e)
{
    bool sent = false;
    long backoff = 500;
    for (unsigned i = 0; i < w->attempts && !sent; i++) {
        if (i > 0 && pause_ms(w, backoff))
            break;
        backoff *= 2;
        pthread_mutex_unlock(&w->lock);
        sent = post(w, curl, e);
        pthread_mutex_lock(&w->lock);
    }
    if (sent) {
        w->c.sent++;
    } else {
        w->c.failed++;
        srtm_log(SRTM_LOG_WARN, "webhook: an event was not delivered to %s (%u attempts)",
                 w->url, w->attempts);
    }
}

static void *sender(void *arg)
{
    webhook *w = arg;
    CURL *curl = curl_easy_init();
    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        if (w->head == NULL) {
            pthread_cond_wait(&w->wake, &w->lock);
            continue;
        }
        event *e = w->head;
        w->head = e->next;
        if (w->head == NULL)
            w->tail = NULL;
        w->n--;
        w->c.queued = w->n;
        if (curl != NULL)
            deliver(w, curl, e);
        else
            w->c.failed++;
        free(e);
    }
    pthread_mutex_unlock(&w->lock);
    curl_easy_cleanup(curl);
    return NULL;
}

static srtm_err copy_config(webhook *w, const webhook_config *cfg)
{
    w->url = strdup(cfg->url);
    w->ca_file = cfg->ca_file != NULL ? strdup(cfg->ca_file) : NULL;
    if (w->url == NULL || (cfg->ca_file != NULL && w->ca_file == NULL))
        return SRTM_E_NO_MEMORY;
    if (cfg->secret != NULL) {
        memcpy(w->secret, cfg->secret, cfg->secret_len);
        w->secret_len = cfg->secret_len;
    }
    w->queue_max = cfg->queue_max != 0 ? cfg->queue_max : 1024;
    w->attempts = cfg->attempts != 0 ? cfg->attempts : 3;
    w->timeout_ms = cfg->timeout_ms != 0 ? cfg->timeout_ms : 5000;
    return SRTM_OK;
}

static void webhook_free(webhook *w)
{
    while (w->head != NULL) {
        event *e = w->head;
        w->head = e->next;
        free(e);
    }
    OPENSSL_cleanse(w->secret, sizeof(w->secret));
    free(w->url);
    free(w->ca_file);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

srtm_err webhook_start(const webhook_config *cfg, webhook **out, char *err, size_t errlen)
{
    *out = NULL;
    srtm_err e = check_config(cfg, err, errlen);
    if (e != SRTM_OK)
        return e;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return fail(err, errlen, "libcurl cannot be initialised");
    webhook *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return fail(err, errlen, "out of memory");
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    e = copy_config(w, cfg);
    if (e == SRTM_OK && pthread_create(&w->thread, NULL, sender, w) != 0)
        e = SRTM_E_NO_MEMORY;
    if (e != SRTM_OK) {
        webhook_free(w);
        return fail(err, errlen, "out of memory or threads");
    }
    *out = w;
    return SRTM_OK;
}

void webhook_stop(webhook *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    atomic_store(&w->abort_now, true);
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    w->c.dropped += w->n;
    if (w->n > 0)
        srtm_log(SRTM_LOG_WARN, "webhook: %u events not delivered at stop", w->n);
    webhook_free(w);
}

/* The event's JSON text (docs/fleet.md, "Webhook"); NULL without memory. */
static event *event_new(const char *node, const char *host, const char *previous,
                        const char *verdict, const char *reasons, int64_t at)
{
    json_object *o = json_object_new_object();
    json_object *r = reasons != NULL && reasons[0] != '\0' ? json_tokener_parse(reasons) : NULL;
    if (o == NULL) {
        json_object_put(r);
        return NULL;
    }
    json_object_object_add(o, "event", json_object_new_string("verdict-change"));
    json_object_object_add(o, "host", json_object_new_string(host));
    json_object_object_add(o, "verdict", json_object_new_string(verdict));
    json_object_object_add(o, "previous", previous != NULL && previous[0] != '\0'
                                              ? json_object_new_string(previous)
                                              : NULL);
    json_object_object_add(o, "reasons", r);
    json_object_object_add(o, "at", json_object_new_int64(at));
    json_object_object_add(o, "node", json_object_new_string(node));
    size_t len = 0;
    const char *text = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    event *e = text != NULL ? malloc(sizeof(*e) + len + 1) : NULL;
    if (e != NULL) {
        e->next = NULL;
        e->len = len;
        memcpy(e->body, text, len + 1);
    }
    json_object_put(o);
    return e;
}

void webhook_notify(webhook *w, const char *node, const char *host, const char *previous,
                    const char *verdict, const char *reasons, int64_t at)
{
    if (w == NULL)
        return;
    event *e = event_new(node, host, previous, verdict, reasons, at);
    pthread_mutex_lock(&w->lock);
    bool queued = e != NULL && !w->stopping && w->n < w->queue_max;
    if (queued) {
        if (w->tail != NULL)
            w->tail->next = e;
        else
            w->head = e;
        w->tail = e;
        w->c.queued = ++w->n;
        pthread_cond_signal(&w->wake);
    } else {
        /* The first drop, then every 100th, is logged. */
        if (w->c.dropped++ % 100 == 0)
            srtm_log(SRTM_LOG_WARN, "webhook: queue full (%u events): an event of host %s "
                                    "was dropped", w->queue_max, host);
    }
    pthread_mutex_unlock(&w->lock);
    if (!queued)
        free(e);
}

void webhook_counts_get(webhook *w, webhook_counts *out)
{
    memset(out, 0, sizeof(*out));
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    *out = w->c;
    pthread_mutex_unlock(&w->lock);
}

int webhook_metrics_text(webhook *w, char *buf, size_t cap, size_t *len)
{
    webhook_counts c;
    webhook_counts_get(w, &c);
    int n = snprintf(buf + *len, cap - *len,
                     "# HELP srtm_fleet_webhook_events_total Verdict changes for the "
                     "webhook, by what became of them.\n"
                     "# TYPE srtm_fleet_webhook_events_total counter\n"
                     "srtm_fleet_webhook_events_total{result=\"sent\"} %llu\n"
                     "srtm_fleet_webhook_events_total{result=\"failed\"} %llu\n"
                     "srtm_fleet_webhook_events_total{result=\"dropped\"} %llu\n"
                     "# HELP srtm_fleet_webhook_queued Events waiting for the webhook.\n"
                     "# TYPE srtm_fleet_webhook_queued gauge\n"
                     "srtm_fleet_webhook_queued %llu\n",
                     (unsigned long long)c.sent, (unsigned long long)c.failed,
                     (unsigned long long)c.dropped, (unsigned long long)c.queued);
    if (n < 0 || (size_t)n >= cap - *len)
        return -1;
    *len += (size_t)n;
    return 0;
}

srtm_err webhook_read_secret(const char *path, uint8_t **out, size_t *len_out, char *err,
                             size_t errlen)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return SRTM_E_IO;
    }
    srtm_err e = SRTM_OK;
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
        snprintf(err, errlen, "%s must be a regular file of this user that no one else may "
                              "read (chmod 600)", path);
        e = SRTM_E_DENIED;
    }
    uint8_t *buf = e == SRTM_OK ? malloc(WEBHOOK_SECRET_MAX + 2) : NULL;
    ssize_t n = buf != NULL ? read(fd, buf, WEBHOOK_SECRET_MAX + 2) : -1;
    close(fd);
    if (e == SRTM_OK && n < 0) {
        snprintf(err, errlen, "cannot read %s", path);
        e = SRTM_E_IO;
    }
    size_t len = n > 0 ? (size_t)n : 0;
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    if (e == SRTM_OK && (len < WEBHOOK_SECRET_MIN || len > WEBHOOK_SECRET_MAX)) {
        snprintf(err, errlen, "%s must hold 16 to 1024 bytes", path);
        e = SRTM_E_INVALID;
    }
    if (e != SRTM_OK) {
        if (buf != NULL)
            OPENSSL_cleanse(buf, WEBHOOK_SECRET_MAX + 2);
        free(buf);
        return e;
    }
    *out = buf;
    *len_out = len;
    return SRTM_OK;
}
