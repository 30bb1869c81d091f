/*
 * watermarks.c — the event-time watermark of a task with inputs
 * (watermarks.h).
 */
#include "taskmanager/watermarks.h"

#include <stdlib.h>

#include <flinc/flinc.h>

int tm_wm_init(tm_wm_valve *v, int nin)
{
	v->nin = nin;
	v->out = TM_WM_NONE;
	v->out_idle = v->status_new = false;
	v->ch = nin > 0 ? malloc((size_t)nin * sizeof(*v->ch)) : NULL;
	v->ended = nin > 0 ? calloc((size_t)nin, sizeof(*v->ended)) : NULL;
	v->idle = nin > 0 ? calloc((size_t)nin, sizeof(*v->idle)) : NULL;
	if (nin > 0 && (!v->ch || !v->ended || !v->idle)) {
		tm_wm_fini(v);
		return FL_ENOMEM;
	}
	for (int i = 0; i < nin; i++)
		v->ch[i] = TM_WM_NONE;
	return 0;
}

void tm_wm_fini(tm_wm_valve *v)
{
	free(v->ch);
	free(v->ended);
	free(v->idle);
	v->ch = NULL;
	v->ended = NULL;
	v->idle = NULL;
}

/* The minimum over the channels that hold the task back: open, active,
 * and not behind what was passed on (the end of time when every channel
 * ended); true with *out when it is above what was passed on. Also
 * settles whether the task is idle: it is when channels are open and all
 * of them are idle. */
static bool advance(tm_wm_valve *v, int64_t *out)
{
	int64_t m = TM_WM_END;
	bool open = false, active = false;
	for (int i = 0; i < v->nin; i++) {
		if (v->ended[i])
			continue;
		open = true;
		if (v->idle[i] || v->ch[i] < v->out)
			continue;
		active = true;
		if (v->ch[i] < m)
			m = v->ch[i];
	}
	bool idle = open && !active;
	for (int i = 0; open && idle && i < v->nin; i++)
		idle = v->ended[i] || v->idle[i];
	if (idle != v->out_idle) {
		v->out_idle = idle;
		v->status_new = !v->status_new;
	}
	/* Open channels all behind (come back from idleness): nothing rises
	 * until one caught up. */
	if ((open && !active) || m <= v->out)
		return false;
	v->out = m;
	*out = m;
	return true;
}

bool tm_wm_input(tm_wm_valve *v, int ch, int64_t w, int64_t *out)
{
	if (ch < 0 || ch >= v->nin || v->ended[ch])
		return false;
	if (w == TM_WM_IDLE) {
		if (v->idle[ch])
			return false;
		v->idle[ch] = true;
		return advance(v, out);
	}
	bool woke = v->idle[ch];
	v->idle[ch] = false;
	if (w > v->ch[ch])
		v->ch[ch] = w;
	else if (!woke)
		return false;
	return advance(v, out);
}

bool tm_wm_end(tm_wm_valve *v, int ch, int64_t *out)
{
	if (ch < 0 || ch >= v->nin || v->ended[ch])
		return false;
	v->ended[ch] = true;
	v->idle[ch] = false;
	return advance(v, out);
}

bool tm_wm_status(tm_wm_valve *v, bool *idle)
{
	*idle = v->out_idle;
	bool changed = v->status_new;
	v->status_new = false;
	return changed;
}
