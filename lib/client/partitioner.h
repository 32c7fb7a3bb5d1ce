/*
 * partitioner.h - key to partition: XXH3-64 (default), or Kafka's murmur2
 * so that keys land where the Java client (and librdkafka's murmur2_random)
 * puts them. The choice is fixed per topic at creation.
 */
#ifndef EVL_PARTITIONER_H
#define EVL_PARTITIONER_H

#include <stddef.h>
#include <stdint.h>

/* Kafka's Utils.murmur2 (seed 0x9747b28c), as a signed 32-bit value. */
int32_t evl__murmur2(const void *key, size_t len);
/* Partition for key under the topic's partitioner (EVL_PART_*). */
int evl__partition_for(int partitioner, const void *key, size_t len, int nparts);

#endif
