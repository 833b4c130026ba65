/*
 * Unit tests of the per-connection peer table (srtm/peers.c): each connection keeps its own
 * credentials, a closed connection's entry is dropped, ids that share a bucket are told
 * apart, and lookups run alongside adds and removes from other threads. Pure code.
 */
#include <pthread.h>
#include <stdlib.h>

#include <criterion/criterion.h>

#include "peers.h"

static peer_table *t;

static void setup(void)
{
    cr_assert_eq(peers_new(&t), SRTM_OK);
}

static void teardown(void)
{
    peers_free(t);
    t = NULL;
}

TestSuite(peers, .init = setup, .fini = teardown);

Test(peers, each_connection_keeps_its_own_peer)
{
    cr_assert_eq(peers_add(t, 7, (peer_cred){.uid = 1000, .pid = 4242}), SRTM_OK);
    cr_assert_eq(peers_add(t, 8, (peer_cred){.uid = 65534, .pid = 5151}), SRTM_OK);
    peer_cred c = {0};
    cr_assert(peers_find(t, 7, &c));
    cr_expect_eq(c.uid, 1000);
    cr_expect_eq(c.pid, 4242);
    cr_assert(peers_find(t, 8, &c));
    cr_expect_eq(c.uid, 65534);
    cr_expect_eq(c.pid, 5151);
    cr_expect_eq(peers_count(t), 2);
}

Test(peers, closed_connection_is_dropped)
{
    cr_assert_eq(peers_add(t, 7, (peer_cred){.uid = 1000, .pid = 4242}), SRTM_OK);
    cr_assert_eq(peers_add(t, 8, (peer_cred){.uid = 0, .pid = 1}), SRTM_OK);
    peers_remove(t, 7);
    peer_cred c = {.uid = 99, .pid = 99};
    cr_expect_not(peers_find(t, 7, &c), "a closed connection's credentials were kept");
    cr_expect_eq(c.uid, 99, "a failed lookup wrote its output");
    cr_expect_eq(c.pid, 99);
    cr_expect(peers_find(t, 8, &c), "removing one connection dropped another");
    cr_expect_eq(peers_count(t), 1);
    peers_remove(t, 7); /* twice, and an id never added: nothing happens */
    peers_remove(t, 12345);
    cr_expect_eq(peers_count(t), 1);
    /* An id nng gives to a later connection carries that connection's peer only. */
    cr_assert_eq(peers_add(t, 7, (peer_cred){.uid = 2000, .pid = 7777}), SRTM_OK);
    cr_assert(peers_find(t, 7, &c));
    cr_expect_eq(c.uid, 2000);
    cr_expect_eq(c.pid, 7777);
}

Test(peers, adding_an_id_again_replaces_it)
{
    cr_assert_eq(peers_add(t, 3, (peer_cred){.uid = 1, .pid = 2}), SRTM_OK);
    cr_assert_eq(peers_add(t, 3, (peer_cred){.uid = 5, .pid = 6}), SRTM_OK);
    peer_cred c = {0};
    cr_assert(peers_find(t, 3, &c));
    cr_expect_eq(c.uid, 5);
    cr_expect_eq(c.pid, 6);
    cr_expect_eq(peers_count(t), 1);
}

/* Many more connections than buckets: every one found with its own peer, and every
 * removal drops exactly that one. */
Test(peers, many_connections_share_buckets)
{
    const uint32_t base = 0x7ffffc00u, n = 5000;
    for (uint32_t i = 0; i < n; i++)
        cr_assert_eq(peers_add(t, base + i, (peer_cred){.uid = i, .pid = i + 1}), SRTM_OK);
    cr_assert_eq(peers_count(t), n);
    for (uint32_t i = 0; i < n; i += 2)
        peers_remove(t, base + i);
    cr_assert_eq(peers_count(t), n / 2);
    for (uint32_t i = 0; i < n; i++) {
        peer_cred c = {0};
        bool found = peers_find(t, base + i, &c);
        cr_assert_eq(found, i % 2 == 1, "connection %u", i);
        if (found)
            cr_assert(c.uid == i && c.pid == i + 1, "connection %u has another's peer", i);
    }
}

static void *churn(void *arg)
{
    uint32_t first = *(const uint32_t *)arg;
    for (uint32_t i = 0; i < 20000; i++) {
        uint32_t id = first + i % 64;
        if (peers_add(t, id, (peer_cred){.uid = id, .pid = id}) != SRTM_OK)
            return (void *)1;
        peer_cred c = {0};
        if (peers_find(t, id, &c) && (c.uid != id || c.pid != id))
            return (void *)1;
        peers_remove(t, id);
    }
    return NULL;
}

Test(peers, concurrent_connections)
{
    pthread_t th[4];
    uint32_t first[4] = {1000, 2000, 3000, 4000};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, churn, &first[i]), 0);
    for (int i = 0; i < 4; i++) {
        void *r = NULL;
        pthread_join(th[i], &r);
        cr_expect_null(r, "thread %d saw another connection's peer", i);
    }
    cr_expect_eq(peers_count(t), 0);
}
