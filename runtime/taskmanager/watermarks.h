/*
 * watermarks.h — the event-time watermark of a task with inputs (Flink's
 * StatusWatermarkValve): each input channel's watermark only rises, the
 * task's is the minimum over its channels that have not ended, and it is
 * passed on whenever it rises. A channel that ended no longer holds the
 * task back; when every channel ended, the task's watermark is the end of
 * time (Flink's MAX_WATERMARK). Idleness (a channel excluded while it
 * sends nothing, `withIdleness`) comes with the sources that declare it.
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

typedef struct tm_wm_valve {
	int nin;
	int64_t *ch;  /* per channel: its highest watermark */
	bool *ended;  /* per channel */
	int64_t out;  /* the task's watermark: the last one passed on */
} tm_wm_valve;

/* Returns 0 or FL_ENOMEM. */
int tm_wm_init(tm_wm_valve *v, int nin);
void tm_wm_fini(tm_wm_valve *v);

/* Watermark w arrived on channel ch: true with *out when the task's
 * watermark rose to *out (pass it on). A lower watermark than the
 * channel's last is ignored. */
bool tm_wm_input(tm_wm_valve *v, int ch, int64_t w, int64_t *out);
/* Channel ch ended: true with *out when the task's watermark rose. */
bool tm_wm_end(tm_wm_valve *v, int ch, int64_t *out);

#endif
