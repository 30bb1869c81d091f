/*
 * watermarks.h — the event-time watermark of a task with inputs (Flink's
 * StatusWatermarkValve): each input channel's watermark only rises, the
 * task's is the minimum over its channels that have not ended and are not
 * idle, and it is passed on whenever it rises. A channel that ended no
 * longer holds the task back; when every channel ended, the task's
 * watermark is the end of time (Flink's MAX_WATERMARK).
 *
 * Idleness (a source's `idle_timeout_ms`, Flink's withIdleness): a channel
 * whose producer said it is idle (a watermark event of TM_WM_IDLE, Flink's
 * WatermarkStatus.IDLE) holds nothing back until it sends a watermark
 * again (its ACTIVE). One that comes back behind the task's watermark
 * holds nothing back either until it caught up (Flink's alignment): its
 * records are late, not the others'. When every open channel is idle the
 * task itself is idle (tm_wm_status says so once), and says so downstream.
 *
 * One object per task, used by its thread only.
 */
#ifndef FLINC_TASKMANAGER_WATERMARKS_H
#define FLINC_TASKMANAGER_WATERMARKS_H

#include <stdbool.h>
#include <stdint.h>

/* No watermark yet (Flink's Long.MIN_VALUE) and the end of time. */
#define TM_WM_NONE INT64_MIN
#define TM_WM_END INT64_MAX
/* The watermark event a producer sends when it turned idle (never a
 * watermark: timestamps are at least INT64_MIN / 2). */
#define TM_WM_IDLE (INT64_MIN + 1)

typedef struct tm_wm_valve {
	int nin;
	int64_t *ch; /* per channel: its highest watermark */
	bool *ended; /* per channel */
	bool *idle;  /* per channel: idle since its last TM_WM_IDLE */
	int64_t out; /* the task's watermark: the last one passed on */
	bool out_idle;	 /* every open channel is idle */
	bool status_new; /* out_idle changed and tm_wm_status did not say so yet */
} tm_wm_valve;

/* Returns 0 or FL_ENOMEM. */
int tm_wm_init(tm_wm_valve *v, int nin);
void tm_wm_fini(tm_wm_valve *v);

/* Watermark w (or TM_WM_IDLE) arrived on channel ch: true with *out when
 * the task's watermark rose to *out (pass it on). A lower watermark than
 * the channel's last is ignored, except that it makes an idle channel
 * active again. */
bool tm_wm_input(tm_wm_valve *v, int ch, int64_t w, int64_t *out);
/* Channel ch ended: true with *out when the task's watermark rose. */
bool tm_wm_end(tm_wm_valve *v, int ch, int64_t *out);
/* Whether the task's idleness changed since the last call, with *idle
 * what it is now (say it downstream: TM_WM_IDLE, or the task's watermark
 * when it is active again). */
bool tm_wm_status(tm_wm_valve *v, bool *idle);

#endif
