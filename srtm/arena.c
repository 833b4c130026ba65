/* Bump allocator for one request at a time; see arena.h. */
#include <stdint.h>
#include <stdlib.h>

#include "arena.h"

#define ARENA_FIRST_CHUNK (64u * 1024u)

struct arena_chunk {
    arena_chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

static void *pb_alloc(void *data, size_t size)
{
    return arena_alloc(data, size);
}

static void pb_free(void *data, void *ptr)
{
    /* Everything is released at once by arena_reset(). */
    (void)data;
    (void)ptr;
}

void arena_init(arena *a, size_t budget)
{
    a->head = NULL;
    a->used = 0;
    a->budget = budget;
    a->pb.alloc = pb_alloc;
    a->pb.free = pb_free;
    a->pb.allocator_data = a;
}

void *arena_alloc(arena *a, size_t size)
{
    /* Check before rounding: rounding SIZE_MAX up would wrap to 0. */
    if (size > a->budget - a->used)
        return NULL;
    size = size == 0 ? 16 : (size + 15u) & ~(size_t)15u;
    if (size > a->budget - a->used)
        return NULL;
    arena_chunk *c = a->head;
    if (c == NULL || c->size - c->used < size) {
        size_t chunk = c ? c->size * 2 : ARENA_FIRST_CHUNK;
        while (chunk < size)
            chunk *= 2;
        arena_chunk *n = malloc(sizeof(*n) + chunk);
        if (n == NULL)
            return NULL;
        n->size = chunk;
        n->used = 0;
        n->next = c;
        a->head = n;
        c = n;
    }
    void *p = c->data + c->used;
    c->used += size;
    a->used += size;
    return p;
}

void arena_reset(arena *a)
{
    arena_chunk *c = a->head;
    /* Keep the oldest (smallest) chunk; free the rest. */
    while (c != NULL && c->next != NULL) {
        arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    if (c != NULL)
        c->used = 0;
    a->head = c;
    a->used = 0;
}

void arena_fini(arena *a)
{
    arena_chunk *c = a->head;
    while (c != NULL) {
        arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used = 0;
}
