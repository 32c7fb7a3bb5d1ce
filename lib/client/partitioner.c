/*
 * partitioner.c - key hashing for partition choice (see partitioner.h).
 */
#include "partitioner.h"

#include <xxhash.h>

#include "config.h"

int32_t evl__murmur2(const void *key, size_t len)
{
    /* A straight port of org.apache.kafka.common.utils.Utils.murmur2. */
    const uint8_t *data = key;
    const uint32_t m = 0x5bd1e995u;
    const int r = 24;
    uint32_t h = 0x9747b28cu ^ (uint32_t)len;
    size_t len4 = len / 4;
    for (size_t i = 0; i < len4; i++) {
        size_t i4 = i * 4;
        uint32_t k = (uint32_t)data[i4] | ((uint32_t)data[i4 + 1] << 8) |
                     ((uint32_t)data[i4 + 2] << 16) | ((uint32_t)data[i4 + 3] << 24);
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
    }
    size_t tail = len & ~(size_t)3;
    switch (len % 4) {
    case 3:
        h ^= (uint32_t)data[tail + 2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)data[tail + 1] << 8;
        /* fall through */
    case 1:
        h ^= data[tail];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return (int32_t)h;
}

int evl__partition_for(int partitioner, const void *key, size_t len, int nparts)
{
    if (partitioner == EVL_PART_MURMUR2)
        /* Kafka: toPositive(murmur2(key)) % numPartitions */
        return (int)(((uint32_t)evl__murmur2(key, len) & 0x7fffffffu) % (uint32_t)nparts);
    return (int)(XXH3_64bits(key, len) % (uint64_t)nparts);
}
