/*
 * group.h - consumer groups: the group record in LMDB, the assignors, and
 * the membership handle a subscribed consumer holds (lock file, heartbeat,
 * change counter). consumer.c drives the rebalance protocol with these;
 * group.c owns every byte of the group's state, on disk and in LMDB.
 *
 * Files under DIR/groups/GROUP/:
 *
 *   state          4096 bytes, mapped by every member of every process
 *     +0  char[8]  magic "EVLGRP1"
 *     +8  u32      seq: bumped (and futex-woken) after every committed
 *                  change of the group record that another member must act
 *                  on: join, leave, death, release, partition growth
 *
 *   MEMBERID.lock  4096 bytes, one per member, flock(LOCK_EX)ed by its
 *                  member for its whole life; the kernel drops the lock when
 *                  the process dies, which is how peers see death at once
 *     +0  char[8]  magic "EVLMBR1"
 *     +8  i64      heartbeat: CLOCK_MONOTONIC ms of the member's last poll
 *     +16 i64      the member's max.poll.interval.ms
 *     +24 i32      pid (informational)
 *
 * The group record (EVL_DB_GROUPS, key = group id), little-endian:
 *   u32 version (1), i64 generation,
 *   u32 ntopics, per topic: u16 len, name, i32 partitions at the last
 *       assignment (a larger count in the topic record means "grown"),
 *   u32 nmembers, per member (in join order): u16 len, id, u8 strategy,
 *       u32 n + n x i32 topic index       subscriptions
 *       u32 n + n x (i32 topic, i32 part) target: the current assignment
 *       u32 n + n x (i32 topic, i32 part) owned: claimed and being read
 * A partition is in at most one member's owned list: that is the rule
 * that keeps two members from reading it at once.
 */
#ifndef EVL_GROUP_H
#define EVL_GROUP_H

#include <lmdb.h>

#include "common.h"
#include "log.h"

#define EVL_MEMBER_ID_MAX 48

typedef struct evl_gtp {
    int32_t topic; /* index into evl_gstate_t.topics */
    int32_t part;
} evl_gtp_t;

typedef struct evl_gmember {
    char id[EVL_MEMBER_ID_MAX];
    uint8_t strategy;          /* EVL_ASSIGN_* of this member's config */
    int32_t *subs;             /* subscribed topic indexes */
    uint32_t nsubs;
    evl_gtp_t *target;         /* assignment of the current generation */
    uint32_t ntarget;
    evl_gtp_t *owned;          /* claimed: this member reads them now */
    uint32_t nowned;
} evl_gmember_t;

typedef struct evl_gstate {
    int64_t gen;               /* bumped by every reassignment */
    char **topics;             /* names referenced by members */
    int32_t *nparts;           /* partitions seen at the last assignment */
    uint32_t ntopics;
    evl_gmember_t *members;    /* in join order; members[0] leads */
    uint32_t nmembers;
} evl_gstate_t;

/* ---- state (white-box tested) -------------------------------------------- */

void evl__group_state_free(evl_gstate_t *g);
/* Index of topic name, added when missing (-1 on ENOMEM; add=false: -1 if
 * absent). */
int evl__group_state_topic(evl_gstate_t *g, const char *name, bool add);
/* Recompute every member's target from subscriptions and g->nparts, with
 * the leader's strategy. 0 or EVL_ENOMEM. */
int evl__group_assign(evl_gstate_t *g);
/* Index of the member owning (topic, part), or -1. */
int evl__group_state_owner(const evl_gstate_t *g, int32_t topic, int32_t part);
/* The group record inside a transaction (*exists false: an empty g). */
int evl__group_state_load(MDB_txn *txn, const MDB_dbi *dbi, const char *group, evl_gstate_t *g,
                     bool *exists);
int evl__group_state_save(MDB_txn *txn, const MDB_dbi *dbi, const char *group,
                     const evl_gstate_t *g);

/* DIR/groups/GROUP into buf. */
int evl__group_dir(evl_log_t *log, const char *group, char *buf, size_t size);
/* Remove members that are dead or stalled (and rebalance), as a member's
 * tick does; for the administration calls. */
int evl__group_reap(evl_log_t *log, const char *group);
/* Unlink the free *.lock files in dir of members not in ids[0..n). */
void evl__group_gc_files(const char *dir, char (*ids)[EVL_MEMBER_ID_MAX], size_t n);

/* ---- membership handle (consumer.c) --------------------------------------- */

typedef struct evl_grp evl_grp_t;

/* The plan for one member: its target, to be compared with what it owns. */
typedef struct evl_grp_plan {
    int64_t gen;
    bool member;                   /* false: removed from the group */
    evl_topic_partition_t *target; /* topic points into names */
    size_t ntarget;
    evl_topic_partition_t *owned;  /* what the record says it owns */
    size_t nowned;
    char **names;
    size_t nnames;
} evl_grp_plan_t;

/* Map the group's state file (creating DIR/groups/GROUP). No membership. */
int evl__group_open(evl_log_t *log, const char *group, evl_grp_t **out);
/* Join (or, already a member, change the subscription): lock file first,
 * then the member record, a new generation, and a bump. */
int evl__group_join(evl_grp_t *grp, const char *const *topics, size_t n, int strategy,
                  int64_t max_poll_ms);
/* Leave: member record gone (its partitions with it), new generation. */
int evl__group_leave(evl_grp_t *grp);
void evl__group_close(evl_grp_t *grp);
const char *evl__group_member_id(const evl_grp_t *grp);

void evl__group_heartbeat(evl_grp_t *grp);
/* The change counter (for a cheap comparison and for futex waits). */
_Atomic uint32_t *evl__group_seq_word(evl_grp_t *grp);
/* Periodic work: remove dead or stalled peers, rebalance on partition
 * growth. Safe to call often; costs a read transaction and a flock test
 * per peer. */
int evl__group_tick(evl_grp_t *grp);

int evl__group_plan(evl_grp_t *grp, evl_grp_plan_t *plan);
void evl__group_plan_free(evl_grp_plan_t *plan);
/* Give up ownership of tps (after the revoke callback). */
int evl__group_release(evl_grp_t *grp, const evl_topic_partition_t *tps, size_t n);
/* Claim those of tps that are still in this member's target and owned by
 * nobody: claimed[i] = true for them, committed[i] = the group's committed
 * offset or -1. */
int evl__group_claim(evl_grp_t *grp, const evl_topic_partition_t *tps, size_t n,
                   bool *claimed, int64_t *committed);

/* Commit offsets for group (fenced as group.c explains). grp is NULL for a
 * consumer that is not a member (manual assignment). */
int evl__group_commit(evl_log_t *log, const char *group, evl_grp_t *grp, int64_t gen,
                    const evl_topic_partition_t *tps, size_t n, const char *metadata);

#endif
