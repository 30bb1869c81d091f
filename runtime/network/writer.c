/*
 * writer.c — a record writer (Flink's RecordWriter with its partitioner):
 * the task thread serialises records into one buffer per output channel and
 * hands a buffer to the channel's outchan when the next record does not fit,
 * on a flush (buffer timeout) or before an event.
 *
 * Only the task thread calls it, except net_writer_cancel (any thread) and
 * the bytes_out counter (read by the metrics poll). A record is framed as a
 * varint length then the row bytes; one larger than a buffer goes alone in a
 * heap buffer of its size (up to NET_MAX_BUFFER) and is sent at once.
 * Buffers come from the task's quota of the TaskManager's pool; a quota at
 * its limit blocks the task in net_quota_take until a buffer is recycled or
 * the writer is cancelled — that
 * wait, and the outchan's wait for credit, are back-pressure. A broadcast
 * record is encoded once and copied to every channel after room was made on
 * all of them, so a failure never leaves it on some channels only.
 */
#include "network/writer.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "types/codec.h"

struct writer_chan {
	net_outchan *oc;
	net_buffer *cur; /* buffer being filled, NULL until the next record */
};

struct net_writer {
	enum net_partitioner part;
	net_quota *quota;      /* NULL: heap buffers */
	atomic_bool cancelled; /* stops a wait for a pool buffer */
	int nchannels;
	uint32_t buffer_size;
	int next_rr;
	struct writer_chan *chans;
	/* Broadcast rows are encoded once here, then copied to every channel;
	 * grows to the largest record seen, so no allocation per record. */
	uint8_t *scratch;
	size_t scratch_cap;
	/* Read by the metrics thread while the task thread writes. */
	_Atomic uint64_t bytes_out;
	/* Task thread only (the task publishes them with its counters): data
	 * buffers sent, and nanoseconds spent waiting to hand a buffer over or
	 * for a free one (Flink's back-pressured time), both per buffer. */
	uint64_t buffers_out;
	uint64_t back_pressured_ns;
	int failed_ch; /* the channel whose send failed last, or -1 */
};

static size_t varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

int net_writer_new(net_writer **out, enum net_partitioner part, int nchannels, net_quota *quota,
		   uint32_t buffer_size, int start)
{
	*out = NULL;
	if (quota)
		buffer_size = net_quota_segment_size(quota);
	if (nchannels < 1 || buffer_size < 16 || buffer_size > NET_MAX_BUFFER)
		return FL_EINVAL;
	if (part != NET_PART_FORWARD && part != NET_PART_REBALANCE && part != NET_PART_HASH &&
	    part != NET_PART_BROADCAST)
		return FL_EINVAL;
	net_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return FL_ENOMEM;
	w->chans = calloc((size_t)nchannels, sizeof(*w->chans));
	if (!w->chans) {
		free(w);
		return FL_ENOMEM;
	}
	w->part = part;
	w->quota = quota;
	atomic_init(&w->cancelled, false);
	w->nchannels = nchannels;
	w->buffer_size = buffer_size;
	w->next_rr = start < 0 ? 0 : start % nchannels;
	w->failed_ch = -1;
	atomic_init(&w->bytes_out, 0);
	*out = w;
	return 0;
}

void net_writer_free(net_writer *w)
{
	if (!w)
		return;
	for (int i = 0; i < w->nchannels; i++) {
		net_buffer_free(w->chans[i].cur);
		net_outchan_free(w->chans[i].oc);
	}
	free(w->chans);
	free(w->scratch);
	free(w);
}

void net_writer_set_channel(net_writer *w, int i, net_outchan *c)
{
	assert(i >= 0 && i < w->nchannels);
	net_outchan_free(w->chans[i].oc);
	w->chans[i].oc = c;
}

int net_writer_channels(const net_writer *w)
{
	return w->nchannels;
}

static int send_cur(net_writer *w, struct writer_chan *wc)
{
	net_buffer *b = wc->cur;
	wc->cur = NULL;
	assert(wc->oc != NULL);
	atomic_fetch_add_explicit(&w->bytes_out, b->len, memory_order_relaxed);
	w->buffers_out++;
	/* A send waits while the consumer has no room or credit: timed as
	 * back-pressure, two clock reads per buffer (tens of KiB of records). */
	int64_t t0 = cm_now_ns();
	int rc = net_outchan_send(wc->oc, b);
	w->back_pressured_ns += (uint64_t)(cm_now_ns() - t0);
	if (rc)
		w->failed_ch = (int)(wc - w->chans);
	return rc;
}

/*
 * Makes wc->cur a buffer with at least `need` free bytes: sends a partly
 * filled buffer that lacks room first. Records larger than buffer_size get a
 * buffer sized to fit (capped at NET_MAX_BUFFER).
 */
static int ensure_room(net_writer *w, struct writer_chan *wc, size_t need)
{
	net_buffer *b = wc->cur;
	if (b && b->cap - b->len >= need)
		return 0;
	if (b && b->len > 0) {
		int rc = send_cur(w, wc);
		if (rc != 0)
			return rc;
	} else if (b) {
		net_buffer_free(b);
		wc->cur = NULL;
	}
	if (w->quota && need <= w->buffer_size) {
		/* Only a take that has to wait is timed. */
		int rc = net_quota_take(w->quota, false, &w->cancelled, &wc->cur);
		if (rc != FL_ERANGE)
			return rc;
		int64_t t0 = cm_now_ns();
		rc = net_quota_take(w->quota, true, &w->cancelled, &wc->cur);
		w->back_pressured_ns += (uint64_t)(cm_now_ns() - t0);
		return rc;
	}
	size_t cap = need > w->buffer_size ? need : w->buffer_size;
	if (cap > NET_MAX_BUFFER)
		cap = NET_MAX_BUFFER;
	wc->cur = net_buffer_new((uint32_t)cap);
	return wc->cur ? 0 : FL_ENOMEM;
}

/* An oversized buffer holds exactly one record: ship it at once rather than
 * keep a large allocation around. */
static int after_record(net_writer *w, struct writer_chan *wc)
{
	if (wc->cur->cap > w->buffer_size)
		return send_cur(w, wc);
	return 0;
}

/* Appends the framed record to wc's buffer, which has room for it. */
static void put_framed(struct writer_chan *wc, const uint8_t *rec, uint32_t len)
{
	size_t vlen = varint_len(len);
	net_buffer *b = wc->cur;
	b->len += (uint32_t)cm_varint_put(b->data + b->len, vlen, len);
	memcpy(b->data + b->len, rec, len);
	b->len += len;
}

static int emit_framed(net_writer *w, struct writer_chan *wc, const uint8_t *rec, uint32_t len)
{
	int rc = ensure_room(w, wc, varint_len(len) + len);
	if (rc != 0)
		return rc;
	put_framed(wc, rec, len);
	return after_record(w, wc);
}

static int pick_channel(net_writer *w, int channel)
{
	switch (w->part) {
	case NET_PART_FORWARD:
		return 0;
	case NET_PART_HASH:
		assert(channel >= 0 && channel < w->nchannels);
		return channel;
	case NET_PART_REBALANCE:
	default: {
		int c = w->next_rr;
		w->next_rr = c + 1 == w->nchannels ? 0 : c + 1;
		return c;
	}
	}
}

int net_writer_emit(net_writer *w, int channel, const uint8_t *rec, uint32_t len)
{
	if (len > ROW_MAX_ENCODED)
		return FL_ERANGE;
	if (w->part == NET_PART_BROADCAST) {
		/* Room on every channel first, so a failure leaves the record
		 * on none of them (never half broadcast). */
		size_t need = varint_len(len) + len;
		for (int i = 0; i < w->nchannels; i++) {
			int rc = ensure_room(w, &w->chans[i], need);
			if (rc != 0)
				return rc;
		}
		int first = 0;
		for (int i = 0; i < w->nchannels; i++) {
			put_framed(&w->chans[i], rec, len);
			int rc = after_record(w, &w->chans[i]);
			if (rc != 0 && first == 0)
				first = rc;
		}
		return first;
	}
	return emit_framed(w, &w->chans[pick_channel(w, channel)], rec, len);
}

/*
 * Encodes r after a length prefix of `vmax` reserved bytes, then slides the
 * row down if its real length prefix is shorter. Returns 1 on success, 0 if
 * the row does not fit in the buffer's free space.
 */
static int encode_into(net_buffer *b, const fl_row *r, size_t vmax, size_t *row_len)
{
	size_t room = b->cap - b->len;
	if (room <= vmax)
		return 0;
	uint8_t *p = b->data + b->len;
	size_t n = row_encode(r, p + vmax, room - vmax);
	if (n == 0)
		return 0;
	size_t v = varint_len(n);
	if (v < vmax)
		memmove(p + v, p + vmax, n);
	cm_varint_put(p, v, n);
	b->len += (uint32_t)(v + n);
	*row_len = n;
	return 1;
}

static int emit_row_to(net_writer *w, struct writer_chan *wc, const fl_row *r, size_t bound)
{
	size_t vmax = varint_len(bound);
	size_t n = 0;
	uint32_t before = wc->cur ? wc->cur->len : 0;
	if (wc->cur && encode_into(wc->cur, r, vmax, &n))
		goto encoded;
	/* Not enough room: start a fresh buffer big enough for the bound. */
	int rc = ensure_room(w, wc, vmax + bound);
	if (rc != 0)
		return rc;
	before = wc->cur->len;
	if (!encode_into(wc->cur, r, vmax, &n))
		return FL_ERANGE; /* larger than NET_MAX_BUFFER */
encoded:
	if (n > ROW_MAX_ENCODED) {
		wc->cur->len = before;
		return FL_ERANGE;
	}
	return after_record(w, wc);
}

/*
 * The common case, a row encoded straight after a one-byte length prefix in
 * the current buffer: no bound computed, nothing moved. A row of 128 bytes
 * or more slides up by the extra prefix bytes when they fit. Returns 1 when
 * the row was written (or found over the size limit: *rc says which), 0
 * when the general path must take it.
 */
static inline int emit_row_fast(net_writer *w, struct writer_chan *wc, const fl_row *r, int *rc)
{
	net_buffer *b = wc->cur;
	if (!b || b->cap - b->len < 2)
		return 0;
	uint8_t *p = b->data + b->len;
	size_t room = b->cap - b->len;
	size_t n = row_encode(r, p + 1, room - 1);
	if (n == 0)
		return 0;
	size_t v = 1;
	if (n >= 0x80) {
		if (n > ROW_MAX_ENCODED) {
			*rc = FL_ERANGE;
			return 1;
		}
		v = varint_len(n);
		if (v + n > room)
			return 0;
		memmove(p + v, p + 1, n);
	}
	cm_varint_put(p, v, n);
	b->len += (uint32_t)(v + n);
	*rc = after_record(w, wc);
	return 1;
}

int net_writer_emit_row(net_writer *w, int channel, const fl_row *r)
{
	if (w->part != NET_PART_BROADCAST) {
		struct writer_chan *wc = &w->chans[pick_channel(w, channel)];
		int rc;
		if (emit_row_fast(w, wc, r, &rc))
			return rc;
		return emit_row_to(w, wc, r, row_encoded_bound(r));
	}
	size_t bound = row_encoded_bound(r);
	if (bound > ROW_MAX_ENCODED + ROW_VARINT_MAX)
		bound = ROW_MAX_ENCODED + ROW_VARINT_MAX;
	if (w->scratch_cap < bound) {
		uint8_t *p = realloc(w->scratch, bound);
		if (!p)
			return FL_ENOMEM;
		w->scratch = p;
		w->scratch_cap = bound;
	}
	size_t n = row_encode(r, w->scratch, w->scratch_cap);
	if (n == 0 || n > ROW_MAX_ENCODED)
		return FL_ERANGE;
	return net_writer_emit(w, channel, w->scratch, (uint32_t)n);
}

int net_writer_emit_row_ts(net_writer *w, int channel, const fl_row *r, int64_t ts)
{
	/* Through the scratch copy: only jobs with event time pay it. */
	size_t bound = row_encoded_bound(r);
	if (bound > ROW_MAX_ENCODED + ROW_VARINT_MAX)
		bound = ROW_MAX_ENCODED + ROW_VARINT_MAX;
	bound += ROW_TS_PREFIX_MAX;
	if (w->scratch_cap < bound) {
		uint8_t *p = realloc(w->scratch, bound);
		if (!p)
			return FL_ENOMEM;
		w->scratch = p;
		w->scratch_cap = bound;
	}
	size_t h = row_ts_prefix_put(w->scratch, ts);
	size_t n = row_encode(r, w->scratch + h, w->scratch_cap - h);
	if (n == 0 || n > ROW_MAX_ENCODED)
		return FL_ERANGE;
	return net_writer_emit(w, channel, w->scratch, (uint32_t)(h + n));
}

int net_writer_flush_all(net_writer *w)
{
	int first = 0;
	for (int i = 0; i < w->nchannels; i++) {
		struct writer_chan *wc = &w->chans[i];
		if (wc->cur && wc->cur->len > 0) {
			int rc = send_cur(w, wc);
			if (rc != 0 && first == 0)
				first = rc;
		}
	}
	return first;
}

int net_writer_broadcast_event(net_writer *w, enum net_event ev, int64_t arg)
{
	int rc = net_writer_flush_all(w);
	if (rc != 0)
		return rc;
	for (int i = 0; i < w->nchannels; i++) {
		net_buffer *b = net_buffer_event(ev, arg);
		if (!b)
			return FL_ENOMEM;
		assert(w->chans[i].oc != NULL);
		rc = net_outchan_send(w->chans[i].oc, b);
		if (rc != 0) {
			w->failed_ch = i;
			return rc;
		}
	}
	return 0;
}

void net_writer_cancel(net_writer *w)
{
	atomic_store(&w->cancelled, true);
	if (w->quota)
		net_quota_wake(w->quota);
	for (int i = 0; i < w->nchannels; i++) {
		if (w->chans[i].oc)
			net_outchan_cancel(w->chans[i].oc);
	}
}

const char *net_writer_why(net_writer *w, int ch)
{
	if (ch < 0)
		ch = w->failed_ch;
	if (ch < 0 || ch >= w->nchannels || !w->chans[ch].oc)
		return NULL;
	return net_outchan_why(w->chans[ch].oc);
}

uint64_t net_writer_bytes_out(const net_writer *w)
{
	return atomic_load_explicit(&w->bytes_out, memory_order_relaxed);
}

uint64_t net_writer_buffers_out(const net_writer *w)
{
	return w->buffers_out;
}

uint64_t net_writer_back_pressured_ns(const net_writer *w)
{
	return w->back_pressured_ns;
}
