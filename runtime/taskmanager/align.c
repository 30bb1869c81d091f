/*
 * align.c — checkpoint barriers at a task with inputs (align.h).
 */
#include "taskmanager/align.h"

#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

int tm_align_init(tm_align *a, net_gate *gate, int ngate, int nextra, bool at_least_once)
{
	memset(a, 0, sizeof(*a));
	int nin = ngate + nextra;
	a->gate = gate;
	a->nin = nin;
	a->ngate = ngate;
	a->at_least_once = at_least_once;
	if (nin > 0 && !(a->seen = calloc((size_t)nin, sizeof(bool))))
		return FL_ENOMEM;
	return 0;
}

void tm_align_fini(tm_align *a)
{
	free(a->seen);
	a->seen = NULL;
}

/* Ends the alignment in progress: every channel flows again. */
static void reset(tm_align *a)
{
	if (!a->id)
		return;
	if (!a->at_least_once)
		net_gate_unblock_all(a->gate);
	memset(a->seen, 0, (size_t)a->nin * sizeof(bool));
	a->nseen = 0;
	a->id = 0;
}

/* Takes the checkpoint aligning when every channel delivered or ended. */
static enum tm_align_action maybe_done(tm_align *a, uint64_t *out)
{
	if (!a->id || a->nseen + a->ended < a->nin)
		return TM_ALIGN_NONE;
	*out = a->id;
	a->last_id = a->id;
	reset(a);
	return TM_ALIGN_CHECKPOINT;
}

enum tm_align_action tm_align_cancel(tm_align *a, uint64_t id, uint64_t *out)
{
	if (id <= a->last_id)
		return TM_ALIGN_NONE; /* taken, or given up and passed on already */
	if (a->id && a->id <= id)
		reset(a);
	a->last_id = id;
	*out = id;
	return TM_ALIGN_CANCEL;
}

enum tm_align_action tm_align_barrier(tm_align *a, int ch, uint64_t id, uint64_t aborted,
				      uint64_t *out)
{
	if (ch < 0 || ch >= a->nin || id <= a->last_id || (a->id && id < a->id))
		return TM_ALIGN_NONE; /* late: its checkpoint was taken or given up */
	if (id <= aborted)
		return tm_align_cancel(a, id, out); /* aborted before it got here */
	if (a->id && id > a->id) {
		/* A newer checkpoint started: the one aligning was given up
		 * (the coordinator runs one at a time). Its marker is not sent:
		 * the newer barrier supersedes it downstream as well. */
		a->last_id = a->id;
		reset(a);
	}
	a->id = id;
	if (!a->seen[ch]) {
		a->seen[ch] = true;
		a->nseen++;
		if (!a->at_least_once && ch < a->ngate)
			net_gate_block(a->gate, ch);
	}
	return maybe_done(a, out);
}

enum tm_align_action tm_align_end(tm_align *a, int ch, uint64_t *out)
{
	/* A channel that delivered the barrier aligning and then ended counts
	 * once, as ended: counted twice, it let an at-least-once checkpoint
	 * (whose channels are not blocked, so they can end) be taken before
	 * the other channels' barriers, and their records before those
	 * barriers were in neither the snapshot nor their producers' replay. */
	if (a->id && ch >= 0 && ch < a->nin && a->seen[ch]) {
		a->seen[ch] = false;
		a->nseen--;
	}
	a->ended++;
	return maybe_done(a, out);
}
