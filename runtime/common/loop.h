/*
 * loop.h — a single-threaded event loop with a mailbox and timers: Flink's
 * main-thread executor, on which the JobMaster and the TaskManager services
 * keep their state without locks.
 *
 * One thread per loop runs every task posted to it and every timer set on
 * it, one at a time: no two of them ever run concurrently, and each sees the
 * memory effects of everything that ran before it on the loop and of what
 * its poster did before posting. Posted tasks run in FIFO order. Timers run
 * once cm_now_ms() (CLOCK_MONOTONIC) has reached their deadline, earliest
 * deadline first and, for equal deadlines, in the order they were set. A
 * task or timer that runs long delays everything behind it, timers included:
 * the loop is for short reactions, and blocking work belongs elsewhere.
 *
 * Between tasks and timers the loop alternates: it runs the tasks queued
 * when a round begins, then the timers due at that moment, so neither can
 * starve the other (a task that keeps reposting itself, or a timer that
 * keeps re-arming in the past, runs once per round).
 *
 * Shutdown (cm_loop_free): posts from other threads are refused with
 * FL_ECANCELED from the moment it begins; every task already posted still
 * runs, and so do the tasks those tasks post (from the loop thread), until
 * the mailbox is empty; timers due when shutdown began still run; timers
 * not yet due are dropped without calling their fn, and new timers are
 * refused. A task that keeps reposting itself therefore keeps the loop
 * alive: stop it before freeing.
 */
#ifndef FLINC_COMMON_LOOP_H
#define FLINC_COMMON_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include <flinc/flinc.h>

typedef struct cm_loop cm_loop;

/* A task or timer body: runs on the loop thread with the arg given. */
typedef void (*cm_task_fn)(void *arg);

/*
 * cm_loop_new starts a loop and its thread, named name (truncated to 15
 * bytes, the kernel's limit; NULL names it "loop") as ps and gdb show it.
 * On success stores the loop in *out, which the caller frees with
 * cm_loop_free. Returns 0, FL_EINVAL (out is NULL), FL_ENOMEM (memory or
 * threads exhausted); *out is NULL on error.
 */
int cm_loop_new(cm_loop **out, const char *name);

/*
 * cm_loop_post queues fn(arg) to run on the loop thread after every task
 * posted before it. Thread-safe; also callable from the loop thread (the task
 * then runs after the current one returns, never inside it). Returns 0,
 * FL_ENOMEM, or FL_ECANCELED when cm_loop_free has begun and the caller is
 * not the loop thread. On error fn is never called and arg stays the
 * caller's.
 */
int cm_loop_post(cm_loop *l, cm_task_fn fn, void *arg);

/*
 * cm_loop_timer arranges for fn(arg) to run on the loop thread once
 * cm_now_ms() >= deadline_ms (a deadline in the past means as soon as
 * possible, after the tasks already queued). Stores the timer's id in *id
 * when id is not NULL: never 0, never reused within this loop, and stored
 * before fn can run, so fn may read it from where the caller keeps it.
 * Thread-safe.
 * Returns 0, FL_ENOMEM, or FL_ECANCELED when cm_loop_free has begun (from any
 * thread). On error fn is never called and arg stays the caller's. A timer
 * that never runs (cancelled, or dropped by cm_loop_free) never calls fn
 * either: whoever owns arg must release it then.
 */
int cm_loop_timer(cm_loop *l, int64_t deadline_ms, cm_task_fn fn, void *arg, uint64_t *id);

/*
 * cm_loop_timer_cancel returns true if timer id had not run and now never
 * will (its arg is the caller's again); false if it already ran, is running
 * now, or id is unknown (0 included). Thread-safe; O(log n) in the number of
 * pending timers.
 */
bool cm_loop_timer_cancel(cm_loop *l, uint64_t id);

/* cm_loop_in_thread returns true when the caller is l's loop thread. */
bool cm_loop_in_thread(const cm_loop *l);

/*
 * cm_loop_call runs fn(arg) on the loop thread and waits until it has
 * returned. From the loop thread it calls fn directly (waiting for a queued
 * task there would deadlock). Returns 0, or cm_loop_post's error (fn not
 * called then). The caller must not hold anything the loop's tasks wait for.
 */
int cm_loop_call(cm_loop *l, cm_task_fn fn, void *arg);

/*
 * cm_loop_free shuts the loop down as described at the top of this header,
 * joins its thread and frees it. l may be NULL. Must not be called from the
 * loop thread (checked in every build: logs and aborts). Other threads may still call cm_loop_post,
 * cm_loop_timer, cm_loop_timer_cancel and cm_loop_call while it runs (they
 * get FL_ECANCELED or false), but only if they are sure to return before
 * cm_loop_free does, e.g. because a task they wait on is still running:
 * after it returns l is gone.
 */
void cm_loop_free(cm_loop *l);

#endif
