/*
 * A bump allocator with a hard budget, handed to protobuf-c as its allocator while a
 * request is decoded and its response is built. A peer controls how many sub-messages
 * protobuf-c allocates (an empty sub-message is two bytes on the wire but tens of bytes
 * in memory), so the budget bounds what one request can make srtmd allocate.
 */
#ifndef SRTM_ARENA_H
#define SRTM_ARENA_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

typedef struct arena_chunk arena_chunk;

typedef struct arena {
    arena_chunk *head;  /* newest chunk first */
    size_t used;        /* bytes handed out since the last reset */
    size_t budget;      /* never hand out more than this between resets */
    ProtobufCAllocator pb; /* protobuf-c view of this arena */
} arena;

void arena_init(arena *a, size_t budget);
/* Forget every allocation; keeps the first chunk for reuse. */
void arena_reset(arena *a);
void arena_fini(arena *a);
/* 16-byte aligned memory valid until the next reset, or NULL over budget. */
void *arena_alloc(arena *a, size_t size);

#endif /* SRTM_ARENA_H */
