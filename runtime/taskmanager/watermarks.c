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
	v->ch = nin > 0 ? malloc((size_t)nin * sizeof(*v->ch)) : NULL;
	v->ended = nin > 0 ? calloc((size_t)nin, sizeof(*v->ended)) : NULL;
	if (nin > 0 && (!v->ch || !v->ended)) {
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
	v->ch = NULL;
	v->ended = NULL;
}

/* The minimum over the channels still open (the end of time when none
 * is); true with *out when it is above what was passed on. */
static bool advance(tm_wm_valve *v, int64_t *out)
{
	int64_t m = TM_WM_END;
	for (int i = 0; i < v->nin; i++)
		if (!v->ended[i] && v->ch[i] < m)
			m = v->ch[i];
	if (m <= v->out)
		return false;
	v->out = m;
	*out = m;
	return true;
}

bool tm_wm_input(tm_wm_valve *v, int ch, int64_t w, int64_t *out)
{
	if (ch < 0 || ch >= v->nin || v->ended[ch] || w <= v->ch[ch])
		return false;
	v->ch[ch] = w;
	return advance(v, out);
}

bool tm_wm_end(tm_wm_valve *v, int ch, int64_t *out)
{
	if (ch < 0 || ch >= v->nin || v->ended[ch])
		return false;
	v->ended[ch] = true;
	return advance(v, out);
}
