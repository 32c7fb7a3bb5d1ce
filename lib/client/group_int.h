/*
 * group_int.h - what the files of the group module share: group.c
 * (membership, liveness, joining and leaving), group_state.c (the group
 * record in memory and in LMDB), group_files.c (the state word and member
 * lock files), group_own.c (plans, claims, releases, fenced commits).
 * Other modules use group.h.
 */
#ifndef EVL_GROUP_INT_H
#define EVL_GROUP_INT_H

#include "group.h"

#define GFILE_SIZE 4096
#define GROUP_VERSION 1u
#define GSTATE_MAGIC "EVLGRP1"
#define MFILE_MAGIC "EVLMBR1"

struct evl_gfile {
    char magic[8];
    _Atomic uint32_t seq;      /* change counter; futex word */
};

struct evl_mfile {
    char magic[8];
    _Atomic int64_t heartbeat_ms; /* CLOCK_MONOTONIC ms of the last poll */
    int64_t max_poll_ms;          /* stale after this long without one */
    int32_t pid;
};

struct evl_grp {
    evl_log_t *log;
    char *name;                /* group id */
    char *dir;                 /* DIR/groups/GROUP */
    char id[EVL_MEMBER_ID_MAX];
    int state_fd;
    struct evl_gfile *sf;
    int lock_fd;               /* held with LOCK_EX while a member */
    struct evl_mfile *mf;
    bool joined;
};

static inline int64_t group_mono_ms(void) { return evl_mono_ns() / 1000000; }

/* The group record in memory (group_state.c). */
int evl__group_state_find_member(const evl_gstate_t *g, const char *id);
void evl__group_state_remove_member(evl_gstate_t *g, int m);
bool evl__group_state_has_tp(const evl_gtp_t *v, uint32_t n, int32_t t, int32_t p);
bool evl__group_state_subscribed(const evl_gmember_t *m, int32_t t);
/* Reload the partition counts of subscribed topics; true if one changed. */
bool evl__group_state_refresh_nparts(MDB_txn *txn, const MDB_dbi *dbi, evl_gstate_t *g);
/* Recompute the assignment and start a new generation. */
int evl__group_state_rebalance(MDB_txn *txn, const MDB_dbi *dbi, evl_gstate_t *g);

/* Files (group_files.c). */
enum { M_ALIVE = 0, M_DEAD, M_STALE };
int evl__group_map_file(int fd, void **out);
void evl__group_bump(struct evl_gfile *sf);
void evl__group_bump_dir(const char *dir);
int evl__group_member_status(const char *dir, const char *id, int64_t now_ms);

#endif
