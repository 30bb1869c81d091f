/*
 * flinc.h — the public job API of flinc, Apache Flink's runtime rebuilt in C.
 *
 * A job is a shared object whose main(argc, argv) builds a dataflow with this
 * API and calls fl_execute(), exactly like a Flink DataStream program:
 *
 *     int main(int argc, char **argv) {
 *         fl_env *env = fl_env_new(argc, argv);
 *         fl_stream *s = fl_generator(env, 1000, 0, gen);
 *         fl_print(fl_map(s, double_it));
 *         int rc = fl_execute(env, "example");
 *         fl_env_free(env);
 *         return rc == 0 ? 0 : 1;
 *     }
 *
 * Where the dataflow runs is decided by whoever started main(): `flinc run
 * --local` (or the program linked and run directly) runs it on an in-process
 * mini cluster; `flinc plan` only prints the job graph.
 *
 * Errors: functions that can fail return int, 0 on success and a negative
 * FL_E* code otherwise. Graph-building functions return a stream handle; a
 * mistake (an unnameable function, a bad field index, a bad parallelism) is
 * recorded in the environment and logged at once, later calls on that
 * environment become no-ops, and fl_execute() returns the error with
 * fl_env_error() naming what was wrong. Build functions return NULL when
 * their input handle is NULL, memory is exhausted, or the environment holds
 * an error (this call's or an earlier one's); passing that NULL on is safe.
 *
 * User functions are plain C functions. The runtime ships them to TaskManagers
 * by symbol name, so they must be exported (not `static`, not hidden): a
 * function the runtime cannot name is an error when the graph is built.
 *
 * Threads: each parallel subtask runs in its own thread; a user function may
 * be called concurrently from several subtasks and must not share mutable
 * globals without its own locking.
 *
 * Caveats:
 * - Strings and bytes in a row are references, not copies. A row handed to a
 *   user function is valid only during that call. A string a user function
 *   builds must live in memory from fl_ctx_scratch() (valid until the current
 *   input record is fully processed) or in static storage.
 * - A row has at most FL_ROW_MAX_FIELDS fields.
 */
#ifndef FLINC_FLINC_H
#define FLINC_FLINC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(FLINC_BUILDING_LIBRARY)
#define FL_API __attribute__((visibility("default")))
#else
#define FL_API
#endif

#define FLINC_VERSION_MAJOR 0
#define FLINC_VERSION_MINOR 1
#define FLINC_VERSION_PATCH 0

/* ---------------------------------------------------------------- errors */

enum fl_error {
	FL_OK = 0,
	FL_ENOMEM = -1,     /* memory exhausted */
	FL_EINVAL = -2,     /* invalid argument, graph or configuration */
	FL_ENOENT = -3,     /* file, symbol or key not found */
	FL_EIO = -4,        /* I/O error */
	FL_ERANGE = -5,     /* value or size out of range */
	FL_ETYPE = -6,      /* field of the wrong type */
	FL_EUSER = -7,      /* a user function reported failure */
	FL_ECANCELED = -8,  /* the job or task was cancelled */
	FL_EPROTO = -9,     /* malformed data from a peer or file */
	FL_ECLOSED = -10,   /* channel or connection closed */
	FL_ETIMEDOUT = -11, /* operation timed out */
	FL_EJOBFAILED = -12 /* the job ran and FAILED */
};

/* fl_strerror returns a static description of an FL_E* code. */
FL_API const char *fl_strerror(int err);

/* ------------------------------------------------------------------ rows */

enum fl_type {
	FL_NULL = 0,
	FL_INT64 = 1,
	FL_DOUBLE = 2,
	FL_STRING = 3,
	FL_BYTES = 4,
	FL_BOOL = 5,
	FL_TIMESTAMP = 6 /* milliseconds since the Unix epoch, UTC */
};

#define FL_ROW_MAX_FIELDS 16

typedef struct fl_value {
	union {
		int64_t i; /* FL_INT64, FL_TIMESTAMP */
		double d;  /* FL_DOUBLE */
		bool b;    /* FL_BOOL */
		struct {
			const char *ptr; /* FL_STRING, FL_BYTES: not NUL-terminated */
			uint32_t len;
		} s;
	} u;
} fl_value;

/*
 * A row: a small typed tuple, passed by pointer. It is a plain struct so that
 * rows live on the stack and cost no allocation; strings point elsewhere.
 */
typedef struct fl_row {
	uint32_t nfields;
	uint8_t types[FL_ROW_MAX_FIELDS];
	fl_value values[FL_ROW_MAX_FIELDS];
} fl_row;

static inline void fl_row_clear(fl_row *r)
{
	r->nfields = 0;
}

/* fl_row_add_* append a field; they return FL_ERANGE when the row is full. */
static inline int fl_row_add_int64(fl_row *r, int64_t v)
{
	if (r->nfields >= FL_ROW_MAX_FIELDS)
		return FL_ERANGE;
	r->types[r->nfields] = FL_INT64;
	r->values[r->nfields++].u.i = v;
	return 0;
}

static inline int fl_row_add_double(fl_row *r, double v)
{
	if (r->nfields >= FL_ROW_MAX_FIELDS)
		return FL_ERANGE;
	r->types[r->nfields] = FL_DOUBLE;
	r->values[r->nfields++].u.d = v;
	return 0;
}

static inline int fl_row_add_bool(fl_row *r, bool v)
{
	if (r->nfields >= FL_ROW_MAX_FIELDS)
		return FL_ERANGE;
	r->types[r->nfields] = FL_BOOL;
	r->values[r->nfields++].u.b = v;
	return 0;
}

static inline int fl_row_add_timestamp(fl_row *r, int64_t millis)
{
	if (r->nfields >= FL_ROW_MAX_FIELDS)
		return FL_ERANGE;
	r->types[r->nfields] = FL_TIMESTAMP;
	r->values[r->nfields++].u.i = millis;
	return 0;
}

/* The string is referenced, not copied (see Caveats). FL_EINVAL for a NULL
 * pointer with a length. */
static inline int fl_row_add_string(fl_row *r, const char *p, size_t len)
{
	if (!p && len)
		return FL_EINVAL;
	if (r->nfields >= FL_ROW_MAX_FIELDS || len > UINT32_MAX)
		return FL_ERANGE;
	r->types[r->nfields] = FL_STRING;
	r->values[r->nfields].u.s.ptr = p;
	r->values[r->nfields++].u.s.len = (uint32_t)len;
	return 0;
}

static inline int fl_row_add_bytes(fl_row *r, const void *p, size_t len)
{
	if (!p && len)
		return FL_EINVAL;
	if (r->nfields >= FL_ROW_MAX_FIELDS || len > UINT32_MAX)
		return FL_ERANGE;
	r->types[r->nfields] = FL_BYTES;
	r->values[r->nfields].u.s.ptr = (const char *)p;
	r->values[r->nfields++].u.s.len = (uint32_t)len;
	return 0;
}

static inline int fl_row_add_null(fl_row *r)
{
	if (r->nfields >= FL_ROW_MAX_FIELDS)
		return FL_ERANGE;
	r->types[r->nfields++] = FL_NULL;
	return 0;
}

/* Typed getters. A wrong type or an index past the end gives 0 / empty;
 * check fl_row_type() first where the shape of a row is not known. */
static inline enum fl_type fl_row_type(const fl_row *r, uint32_t i)
{
	return i < r->nfields ? (enum fl_type)r->types[i] : FL_NULL;
}

static inline int64_t fl_row_int64(const fl_row *r, uint32_t i)
{
	return i < r->nfields && (r->types[i] == FL_INT64 || r->types[i] == FL_TIMESTAMP)
		   ? r->values[i].u.i
		   : 0;
}

static inline double fl_row_double(const fl_row *r, uint32_t i)
{
	return i < r->nfields && r->types[i] == FL_DOUBLE ? r->values[i].u.d : 0.0;
}

static inline bool fl_row_bool(const fl_row *r, uint32_t i)
{
	return i < r->nfields && r->types[i] == FL_BOOL ? r->values[i].u.b : false;
}

/* Returns the string (not NUL-terminated) and stores its length in *len. */
static inline const char *fl_row_string(const fl_row *r, uint32_t i, size_t *len)
{
	if (i < r->nfields && (r->types[i] == FL_STRING || r->types[i] == FL_BYTES)) {
		*len = r->values[i].u.s.len;
		return r->values[i].u.s.ptr;
	}
	*len = 0;
	return "";
}

/*
 * fl_row_format writes the row as text, fields separated by TAB (strings as
 * they are, doubles in shortest round-trip form, bools as true/false,
 * timestamps as milliseconds, NULL as "null", bytes in hex). It writes at most
 * cap bytes including the NUL and returns the length the full text needs, as
 * snprintf does.
 */
FL_API size_t fl_row_format(const fl_row *r, char *buf, size_t cap);

/* ------------------------------------------------ functions and contexts */

/* The per-subtask context handed to every user function. */
typedef struct fl_ctx fl_ctx;
/* Where a flat_map emits its output. */
typedef struct fl_collector fl_collector;

/* Index of this parallel subtask, 0-based, and the operator's parallelism. */
FL_API int fl_ctx_subtask(const fl_ctx *ctx);
FL_API int fl_ctx_parallelism(const fl_ctx *ctx);
/*
 * Scratch memory for strings a function builds: valid until the current input
 * record has been fully processed by the chain. Returns NULL when the
 * per-record scratch limit (1 MiB) is exhausted.
 */
FL_API char *fl_ctx_scratch(fl_ctx *ctx, size_t n);
/*
 * Reports a failure with a message; returns FL_EUSER for `return
 * fl_fail(ctx, ...)`. The job then FAILS and the message is in its status.
 */
FL_API int fl_fail(fl_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Emits one row from a flat_map. Returns 0, or an error to return at once. */
FL_API int fl_collect(fl_collector *out, const fl_row *row);

/*
 * Side outputs (Flink's OutputTag and ctx.output): a function given a
 * collector (flat_map, process functions, windows' functions, joins) may
 * emit a row to a side output named by tag (1 to FL_TAG_MAX bytes) instead
 * of its main output; fl_side_output gives the stream of what an
 * operator emitted under a tag. A row carries the timestamp of the record
 * being processed, as fl_collect's rows do. Rows under a tag no stream
 * reads are dropped, as in Flink. Returns 0, FL_EINVAL (no tag, or one
 * too long), or an error to return at once.
 */
#define FL_TAG_MAX 63
FL_API int fl_output(fl_collector *out, const char *tag, const fl_row *row);

/* Generator source: fills *out with the record at `offset` (0, 1, 2, ...).
 * It must be a pure function of offset so that replays are deterministic. */
typedef int (*fl_generator_fn)(fl_ctx *ctx, int64_t offset, fl_row *out);
/* map: one row in, one row out. */
typedef int (*fl_map_fn)(fl_ctx *ctx, const fl_row *in, fl_row *out);
/* flat_map: one row in, zero or more out through fl_collect(). */
typedef int (*fl_flat_map_fn)(fl_ctx *ctx, const fl_row *in, fl_collector *out);
/* filter: returns 1 to keep, 0 to drop, negative to fail. */
typedef int (*fl_filter_fn)(fl_ctx *ctx, const fl_row *in);
/* key selector: builds the key of `in` into *key (one or more fields). */
typedef int (*fl_key_fn)(fl_ctx *ctx, const fl_row *in, fl_row *key);
/* reduce: combines the accumulated row with a new one into *out. */
typedef int (*fl_reduce_fn)(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out);

/* ----------------------------------------------------------- environment */

typedef struct fl_env fl_env;
/* A DataStream: the output of an operator, or a partitioned / keyed view. */
typedef struct fl_stream fl_stream;

enum fl_runtime_mode {
	FL_MODE_STREAMING = 0, /* keyed aggregations emit every update */
	FL_MODE_BATCH = 1      /* bounded input: one final value per key */
};

/*
 * fl_env_new creates the execution environment for this main(). The returned
 * environment is owned by the caller (fl_env_free). Returns NULL only when
 * memory is exhausted.
 */
FL_API fl_env *fl_env_new(int argc, char **argv);
FL_API void fl_env_free(fl_env *env);

/* Default parallelism of operators created from now on (Flink's
 * parallelism.default; an operator takes it when it is created). */
FL_API int fl_env_set_parallelism(fl_env *env, int parallelism);
/* Number of key groups, the upper bound of rescaling. Unset, each operator
 * derives it from its parallelism as Flink does: 1.5 x parallelism rounded
 * up to a power of two, at least 128, at most 32768. */
FL_API int fl_env_set_max_parallelism(fl_env *env, int max_parallelism);
FL_API int fl_env_set_runtime_mode(fl_env *env, enum fl_runtime_mode mode);
/* Flush timeout of partly filled network buffers, in ms (default 100). */
FL_API int fl_env_set_buffer_timeout(fl_env *env, int64_t millis);
/* Sets any configuration key (as -D key=value would); errors name the key. */
FL_API int fl_env_set_config(fl_env *env, const char *key, const char *value);

/*
 * fl_execute turns the dataflow into a job graph and runs it where the
 * launcher says (local mini cluster by default). It blocks until the job
 * ends. Returns 0 if the job FINISHED, FL_EJOBFAILED if it FAILED (the cause
 * in fl_env_error()), or another negative code if it could not be started.
 * Afterwards the environment starts a new, empty dataflow (as Flink clears
 * its transformations): streams built before the call cannot be reused.
 */
FL_API int fl_execute(fl_env *env, const char *job_name);

/* The message of the first error recorded in env, or "" if none. */
FL_API const char *fl_env_error(const fl_env *env);

/* --------------------------------------------------------------- sources */

/*
 * Generator source: `count` records with offsets 0..count-1 (count < 0: no
 * end), at most `rate` records per second in total (0: as fast as possible).
 * Like Flink's NumberSequenceSource, the offsets are cut into one contiguous
 * range per parallel subtask: subtask i of p produces count*i/p up to
 * count*(i+1)/p - 1, in order (an unbounded generator cuts 0..2^63-1, so
 * subtask 1 of 2 starts at 2^62 - 1). A checkpoint records each range's next
 * offset; a job restored at another parallelism redistributes the ranges
 * (a subtask holding several reads them in turns of 1024 records).
 */
FL_API fl_stream *fl_generator(fl_env *env, int64_t count, double rate, fl_generator_fn fn);
/*
 * Text file source: the lines of the files, one row with one FL_STRING field
 * per line (without the newline). Regular files are split into ranges that
 * parallel subtasks read independently, cut from the sizes the files had
 * when the graph was built: a file whose size changes while the job reads
 * it fails the job, naming the file and both sizes. Files that report size
 * 0 (/proc) and non-regular ones (a FIFO, a device) are read by one subtask
 * as one stream to their end; a cancelled job stops waiting on them. A
 * missing file or a directory is an error when the graph is built.
 */
FL_API fl_stream *fl_read_text_files(fl_env *env, const char *const *paths, size_t npaths);
FL_API fl_stream *fl_read_text_file(fl_env *env, const char *path);
/*
 * Socket text source (Flink's socketTextStream): connects to host:port and
 * gives each line it reads (without '\n', and a '\r' before it) as one row
 * with one FL_STRING field. When the connection ends it connects again after
 * 500 ms, up to max_retry times (-1: for ever; 0: never); a connect that
 * fails counts as a retry. Once they are used up the source ends (end of
 * input) or, if its last connect failed, fails the job naming the address.
 * Not a parallel source: its parallelism is 1. Nothing read is kept in a
 * checkpoint: a restored job connects again and reads what comes (at most
 * once, as Flink's). A bad host, a port outside 1..65535 or max_retry
 * below -1 is an error when the graph is built.
 */
FL_API fl_stream *fl_socket_text(fl_env *env, const char *host, int port, int64_t max_retry);

/* ------------------------------------------------------------ event time */

/*
 * Event time (Flink's WatermarkStrategy given to fromSource): a source's
 * records get a timestamp (epoch milliseconds) from a field or a function,
 * and the source emits watermarks. Watermarks are generated per source
 * split (a generator range, a text file range) from the largest timestamp
 * that split produced, and a subtask's watermark is the minimum over its
 * splits still being read, so the order in which a subtask reads its splits
 * never makes a record late; a split not started yet holds it back, a
 * split read to its end no longer does. They go out every
 * pipeline.auto-watermark-interval ms (default 200; 0 turns periodic
 * watermarks off) when they rose, and at the end of the input the final
 * watermark (INT64_MAX) goes out. Tasks pass on the minimum over their
 * inputs.
 *
 * A record keeps its timestamp through the operators after the source (a
 * map's or flat_map's output has its input's timestamp, as in Flink) and
 * across the network; fl_ctx_timestamp reads it in any user function.
 */
enum fl_watermark_kind {
	FL_WATERMARK_NONE = 0,	     /* timestamps only, no watermarks */
	FL_WATERMARK_MONOTONOUS = 1, /* forMonotonousTimestamps: watermark = max - 1 */
	FL_WATERMARK_BOUNDED = 2     /* forBoundedOutOfOrderness: max - bound - 1 */
};
/* A timestamp assigner: stores the record's event time (epoch ms) in *ts;
 * returns 0, or fails with fl_fail. Exported, as every user function. */
typedef int (*fl_timestamp_fn)(fl_ctx *ctx, const fl_row *in, int64_t *ts);
typedef struct fl_watermark_strategy {
	enum fl_watermark_kind kind;
	int64_t out_of_orderness_ms;  /* FL_WATERMARK_BOUNDED: >= 0 */
	fl_timestamp_fn timestamp_fn; /* the assigner, or NULL: */
	uint32_t timestamp_field;     /* a field of type FL_INT64 or FL_TIMESTAMP */
	/* withIdleness: a source subtask that produced nothing for this long
	 * (ms; 0: never) says it is idle, and what it feeds stops waiting for
	 * its watermark until it produces again; a record it then produces
	 * behind the others' watermark is late there. */
	int64_t idle_timeout_ms;
} fl_watermark_strategy;
/*
 * Gives a source stream (fl_generator, fl_read_text_file[s]) timestamps
 * and watermarks; returns the same stream. Errors (recorded in the
 * environment, naming what is wrong): not a source, a second strategy, an
 * unknown kind, a negative out_of_orderness_ms, an unnameable function. A
 * record whose timestamp field is missing or not an integer fails the job
 * naming the field and the source.
 */
FL_API fl_stream *fl_assign_timestamps_and_watermarks(fl_stream *source,
						      const fl_watermark_strategy *ws);
/* The timestamp of the record being processed (INT64_MIN: it has none). */
FL_API int64_t fl_ctx_timestamp(const fl_ctx *ctx);
/* The current watermark of the operator's task: INT64_MIN before the
 * first (at a source, the last one it emitted). */
FL_API int64_t fl_ctx_watermark(const fl_ctx *ctx);

/* ------------------------------------------------------------- operators */

FL_API fl_stream *fl_map(fl_stream *in, fl_map_fn fn);
FL_API fl_stream *fl_flat_map(fl_stream *in, fl_flat_map_fn fn);
FL_API fl_stream *fl_filter(fl_stream *in, fl_filter_fn fn);
/* Keyed views: records with equal keys go to the same parallel subtask. */
FL_API fl_stream *fl_key_by(fl_stream *in, uint32_t field);
FL_API fl_stream *fl_key_by_fn(fl_stream *in, fl_key_fn fn);
/* Keyed aggregations; the input must come from fl_key_by*. The other fields
 * of the result come from the first record seen for the key, as in Flink. */
FL_API fl_stream *fl_reduce(fl_stream *keyed, fl_reduce_fn fn);
FL_API fl_stream *fl_sum(fl_stream *keyed, uint32_t field);
FL_API fl_stream *fl_min(fl_stream *keyed, uint32_t field);
FL_API fl_stream *fl_max(fl_stream *keyed, uint32_t field);
/*
 * The keyed process function (Flink's KeyedProcessFunction): `fn` is called
 * once per record of a keyed stream (from fl_key_by*; any other input is an
 * error when the graph is built), with the record's key current, and emits
 * zero or more rows through fl_collect(). It keeps what it needs in keyed
 * state (below), scoped to the current key, which checkpoints and
 * savepoints carry and rescaling redistributes with the key.
 */
typedef int (*fl_process_fn)(fl_ctx *ctx, const fl_row *in, fl_collector *out);
FL_API fl_stream *fl_process(fl_stream *keyed, fl_process_fn fn);

/*
 * Timers (Flink's TimerService in a KeyedProcessFunction). A process
 * function given with an on_timer function registers timers for the
 * current key: an event-time timer fires when the operator's watermark
 * reaches its time (time <= watermark), a processing-time timer when the
 * wall clock (epoch ms) does. on_timer is then called with the timer's key
 * current (fl_ctx_current_key, the same keyed state), its time and domain,
 * and a collector. What it emits carries the timer's time as its timestamp
 * for an event-time timer, no timestamp for a processing-time one (as
 * Flink's). Timers of one key and time are one timer (registering it again
 * does nothing); timers fire in time order, equal times in the order of
 * their keys' encoded bytes; every event-time timer due fires before the
 * watermark goes downstream. Timers are keyed state: checkpoints and
 * savepoints carry them, a restore at another parallelism moves them with
 * their keys. At the end of a bounded input the final watermark fires every
 * event-time timer; processing-time timers still pending are dropped (as
 * in Flink).
 */
enum fl_time_domain {
	FL_EVENT_TIME = 0,
	FL_PROCESSING_TIME = 1,
};
typedef int (*fl_on_timer_fn)(fl_ctx *ctx, int64_t time, enum fl_time_domain domain,
			      fl_collector *out);
typedef struct fl_process_spec {
	fl_process_fn process;	 /* required */
	fl_on_timer_fn on_timer; /* NULL: the function registers no timers */
} fl_process_spec;
/* fl_process with the whole spec (both functions exported). */
FL_API fl_stream *fl_keyed_process(fl_stream *keyed, const fl_process_spec *spec);
/*
 * In a process function given an on_timer (its process and on_timer
 * calls): register or delete a timer of the current key. Return 0, or
 * FL_EINVAL outside such a function (the task then fails naming it: timers
 * need a keyed process function with an on_timer), FL_ERANGE when the
 * operator holds its limit of pending timers (FL_MAX_TIMERS per subtask),
 * or a state backend error; the task fails with the message in every case.
 * Deleting a timer that is not registered is not an error.
 */
#define FL_MAX_TIMERS (16u * 1024u * 1024u)
FL_API int fl_ctx_register_event_timer(fl_ctx *ctx, int64_t time);
FL_API int fl_ctx_register_processing_timer(fl_ctx *ctx, int64_t time);
FL_API int fl_ctx_delete_event_timer(fl_ctx *ctx, int64_t time);
FL_API int fl_ctx_delete_processing_timer(fl_ctx *ctx, int64_t time);
/* Processing time in epoch ms: the wall clock; in a keyed process function
 * with an on_timer, the clock its processing-time timers run on (the fake
 * clock of FLINC_FAKE_CLOCK_FILE when the process has one, as TTL's). */
FL_API int64_t fl_ctx_current_processing_time(fl_ctx *ctx);

/*
 * Two inputs (Flink's ConnectedStreams): fl_connect(a, b) is a view of
 * both streams that the next operator reads as its first and second input;
 * it takes only the two-input operators below. Each input keeps its own
 * partitioning (fl_key_by, fl_rebalance, ...). The operator's watermark is
 * the minimum over both inputs (an input that ended no longer holds it
 * back), a checkpoint's barriers are aligned over both, and it heads its
 * own task (a two-input operator is not chained to its inputs).
 *
 * co_map / co_flat_map (Flink's CoMapFunction, CoFlatMapFunction): the
 * first function gets the records of the first input, the second those of
 * the second, on the same subtask (functions of one subtask never run
 * concurrently).
 *
 * co_process (Flink's KeyedCoProcessFunction) on two keyed streams, each
 * keyed by its own fl_key_by / fl_key_by_fn, with keys of the same type
 * (records with equal keys meet on one subtask): process1 and process2
 * get their input's records with the key current, share the keyed state
 * (fl_get_*_state) and the timers of that key (fl_ctx_register_*_timer,
 * with on_timer, as fl_keyed_process). Checkpoints, savepoints and
 * rescaling treat its state and timers as a keyed process function's.
 * Keys of different types on the two inputs (an int64 against a string)
 * fail the task naming both. On two streams that are not keyed it is a
 * co-flat-map (no keyed state; an on_timer is refused when the graph is
 * built).
 */
FL_API fl_stream *fl_connect(fl_stream *a, fl_stream *b);
FL_API fl_stream *fl_co_map(fl_stream *connected, fl_map_fn map1, fl_map_fn map2);
FL_API fl_stream *fl_co_flat_map(fl_stream *connected, fl_flat_map_fn flat_map1,
				 fl_flat_map_fn flat_map2);
typedef struct fl_co_process_spec {
	fl_process_fn process1;	 /* records of the first input: required */
	fl_process_fn process2;	 /* records of the second input: required */
	fl_on_timer_fn on_timer; /* NULL: no timers */
} fl_co_process_spec;
FL_API fl_stream *fl_co_process(fl_stream *connected, const fl_co_process_spec *spec);

/*
 * Windows on a keyed stream (Flink's keyBy().window(...)): records are
 * assigned to time windows of their key, folded into one accumulator per
 * key and window (keyed state, namespace = the window: checkpointed,
 * restored and rescaled as any keyed state), and a window's result is
 * emitted when time passes its end (the event-time or processing-time
 * trigger, on the operator's timers). A window is [start, end): start
 * inclusive, end exclusive, in ms.
 *
 *   FL_WINDOW_TUMBLING  size_ms > 0: windows [k*size, (k+1)*size)
 *   FL_WINDOW_SLIDING   size_ms > 0, 0 < slide_ms <= size_ms: windows of
 *                       size_ms starting every slide_ms (a record is in
 *                       size_ms / slide_ms of them, rounded up)
 *   FL_WINDOW_SESSION   gap_ms > 0: a record at t opens [t, t + gap_ms),
 *                       and windows of a key that overlap merge into one
 *                       (a session ends gap_ms after its last record);
 *                       their accumulators merge with reduce, or with
 *                       agg.merge, which session windows require
 *
 * Event time (FL_EVENT_TIME): a record's window is from its timestamp
 * (fl_assign_timestamps_and_watermarks); a window fires when the watermark
 * reaches end - 1. allowed_lateness_ms >= 0 keeps a fired window's
 * accumulator that long: a late record within it updates the window and
 * fires it again at once with the new result (Flink's EventTimeTrigger);
 * a record later than that for all its windows is dropped and counted
 * (the count is logged when the task ends), or goes to the window's late
 * records (fl_window_late_records). Processing time: windows by
 * the clock when a record arrives, fired when the clock passes end - 1.
 *
 * Functions: exactly one of reduce (Flink's ReduceFunction: the
 * accumulator is the first row, then reduce(acc, in)) and agg (create,
 * add, result; merge for session windows). What fires is the accumulator (reduce)
 * or agg.result's row; window_fn, when set, gets it with the window and the
 * key current (fl_ctx_current_key) and emits what it wants (Flink's
 * ProcessWindowFunction over an incremental aggregate); without it the
 * result row is emitted. What fires carries end - 1 as its timestamp in
 * event time.
 *
 * The spec is copied (it may live on the stack); its functions are shipped
 * by name, as every user function is: they must be exported. Refused when
 * the graph is built, naming the problem: an unkeyed input, size <= 0, a
 * slide <= 0 or above the size, a negative allowed lateness, no function
 * or both, an agg without create, add or result, an unknown kind or time
 * domain, a function that cannot be named.
 */
/* An AggregatingState's and a window's aggregate functions (Flink's AggregateFunction): create the
 * empty accumulator, add a value into it, merge two (optional: used when
 * windows merge), and compute the result the state reads as. Each returns
 * 0 or fails with fl_fail. */
typedef struct fl_aggregate_fns {
	int (*create)(fl_ctx *ctx, fl_row *acc);
	int (*add)(fl_ctx *ctx, const fl_row *acc, const fl_row *in, fl_row *out);
	int (*merge)(fl_ctx *ctx, const fl_row *a, const fl_row *b, fl_row *out);
	int (*result)(fl_ctx *ctx, const fl_row *acc, fl_row *out);
} fl_aggregate_fns;
enum fl_window_kind {
	FL_WINDOW_TUMBLING = 1,
	FL_WINDOW_SLIDING = 2,
	FL_WINDOW_SESSION = 3,
	FL_WINDOW_COUNT = 4, /* Flink's countWindow: see count, count_slide */
};
typedef int (*fl_window_fn)(fl_ctx *ctx, int64_t start, int64_t end, const fl_row *result,
			    fl_collector *out);
/* A window's records in arrival order, for fl_window_spec.process. */
typedef struct fl_window_records fl_window_records;
/* The next record of the window into *out (valid until the next call):
 * 1, or 0 after the last one; negative: the task failed (say so by
 * returning it). */
FL_API int fl_window_records_next(fl_window_records *records, fl_row *out);
/* Flink's ProcessWindowFunction over all of a window's records (no
 * incremental function): called when the window fires, with the key
 * current (its keyed state too). */
typedef int (*fl_window_process_fn)(fl_ctx *ctx, int64_t start, int64_t end,
				    fl_window_records *records, fl_collector *out);
/*
 * A window's trigger (fl_window_spec.trigger; Flink's Trigger), for
 * tumbling, sliding and session windows (merging sessions add up their
 * counts and keep the earliest continuous firing):
 *   FL_TRIGGER_DEFAULT (0): the assigner's own (EventTimeTrigger or
 *     ProcessingTimeTrigger): fire at end - 1, again per late record within
 *     the lateness.
 *   FL_TRIGGER_COUNT: fire each time the window holds `count` more records
 *     (CountTrigger.of(count)). It replaces the default trigger: the
 *     window no longer fires at its end, and the records since its last
 *     firing are dropped when it is cleared (end - 1 + lateness), as in
 *     Flink.
 *   FL_TRIGGER_CONTINUOUS_EVENT_TIME / _PROCESSING_TIME: fire every
 *     interval_ms of the window's time domain from the first record's
 *     interval on, and at the window's end (ContinuousEventTimeTrigger,
 *     ContinuousProcessingTimeTrigger); the domain must be the window's.
 * FIRE keeps the window's contents: a window that fires several times
 * emits its whole contents each time. purging makes every firing
 * FIRE_AND_PURGE (PurgingTrigger.of(...)): the contents go after each
 * firing. The trigger's state (records counted, next firing) is keyed
 * state per window.
 */
enum fl_trigger_kind {
	FL_TRIGGER_DEFAULT = 0,
	FL_TRIGGER_COUNT = 1,
	FL_TRIGGER_CONTINUOUS_EVENT_TIME = 2,
	FL_TRIGGER_CONTINUOUS_PROCESSING_TIME = 3,
};
typedef struct fl_window_trigger {
	enum fl_trigger_kind kind;
	int64_t count;	     /* FL_TRIGGER_COUNT: > 0 */
	int64_t interval_ms; /* FL_TRIGGER_CONTINUOUS_*: > 0 */
	bool purging;
} fl_window_trigger;
/*
 * A window's evictor (Flink's Evictor), for tumbling, sliding and session
 * windows: with one the window keeps its records (with their timestamps)
 * instead of an accumulator, and reduce or agg run over the records kept
 * when it fires (the incremental path is only for windows without one).
 *   FL_EVICTOR_COUNT: keep the last `count` records (CountEvictor);
 *   FL_EVICTOR_TIME: keep the records whose timestamp is within keep_ms of
 *     the newest one's, t > max - keep_ms (TimeEvictor; nothing is evicted
 *     when the first record has no timestamp).
 * Before the function (evictBefore, the default) or after it (after:
 * evictAfter); the records evicted are gone from the window.
 */
enum fl_evictor_kind {
	FL_EVICTOR_NONE = 0,
	FL_EVICTOR_COUNT = 1,
	FL_EVICTOR_TIME = 2,
};
typedef struct fl_window_evictor {
	enum fl_evictor_kind kind;
	int64_t count;	 /* FL_EVICTOR_COUNT: > 0 */
	int64_t keep_ms; /* FL_EVICTOR_TIME: > 0 */
	bool after;
} fl_window_evictor;
typedef struct fl_window_spec {
	enum fl_window_kind kind;
	enum fl_time_domain time; /* FL_EVENT_TIME (0) or FL_PROCESSING_TIME */
	int64_t size_ms;
	int64_t slide_ms; /* sliding windows */
	int64_t gap_ms;	  /* session windows */
	int64_t allowed_lateness_ms;
	fl_reduce_fn reduce;
	fl_aggregate_fns agg;
	fl_window_fn window_fn; /* NULL: emit the result row */
	/* FL_WINDOW_COUNT (Flink's countWindow(count[, count_slide])): a key's
	 * records in arrival order, count at a time (tumbling: count_slide 0),
	 * or every count_slide records the last count of them (sliding; the
	 * first ones fire with fewer, as Flink's CountEvictor leaves them).
	 * Time plays no part: no timers, no lateness, no late records; what
	 * fires has no timestamp (Flink's GlobalWindow gives Long.MAX_VALUE).
	 * window_fn's start and end are the key's record numbers the window
	 * covers (from 0, end exclusive). A sliding one keeps its last count
	 * records per key as keyed state (count <= 2^30). */
	int64_t count;
	int64_t count_slide;
	/* Instead of reduce or agg (and window_fn): the window keeps its
	 * records, each once per window it belongs to, as keyed state, and
	 * process gets them all when it fires (Flink's ProcessWindowFunction
	 * alone); sessions move their records when they merge. */
	fl_window_process_fn process;
	fl_window_trigger trigger; /* zero: the default trigger */
	fl_window_evictor evictor; /* zero: none */
} fl_window_spec;
FL_API fl_stream *fl_window(fl_stream *keyed, const fl_window_spec *spec);
/*
 * Windows over a whole stream (Flink's windowAll): every record in one
 * window operator of parallelism 1 (another is refused), keyed by nothing,
 * with fl_window's specs, functions and results. The input must not be
 * keyed.
 */
FL_API fl_stream *fl_window_all(fl_stream *in, const fl_window_spec *spec);
/*
 * The late records of an event-time window (Flink's sideOutputLateData and
 * getSideOutput): the records dropped for being later than the allowed
 * lateness for all their windows, with their timestamps, as a stream of
 * their own (its consumers never chain to the window: they get the records
 * over a channel, forward when the parallelisms match). `windowed` is what
 * fl_window returned. Without it late records are only counted. Refused
 * for anything else and for processing-time windows (which have none).
 * It is the side output FL_LATE_RECORDS_TAG of the window.
 */
FL_API fl_stream *fl_window_late_records(fl_stream *windowed);
#define FL_LATE_RECORDS_TAG "late-records"

/*
 * The side output tag of the operator that made `s` (see fl_output): a
 * stream of its own, whose consumers never chain to that operator (they
 * get its rows over a channel, forward when the parallelisms match), at
 * the operator's parallelism. Refused for a stream no function with a
 * collector makes (a source, a map, a filter, an aggregation, a union or
 * a partitioning of streams) and for a tag that is empty or longer than
 * FL_TAG_MAX.
 */
FL_API fl_stream *fl_side_output(fl_stream *s, const char *tag);

/*
 * Joins of two keyed streams in event time (Flink's
 * a.join(b).where(ka).equalTo(kb).window(...).apply(...) and
 * a.keyBy(ka).intervalJoin(b.keyBy(kb)).between(lower, upper).process(...)):
 * `left` and `right` are keyed streams (fl_key_by / fl_key_by_fn: where and
 * equalTo, keys of the same type) with timestamps and watermarks
 * (fl_assign_timestamps_and_watermarks); `join` gets every pair of a left
 * and a right record with equal keys that the join matches, and emits zero
 * or more rows through fl_collect.
 *
 * Window join: pairs in the same window (FL_WINDOW_TUMBLING, size_ms > 0,
 * or FL_WINDOW_SLIDING, 0 < slide_ms <= size_ms, as fl_window's; or
 * FL_WINDOW_SESSION, gap_ms > 0: a key's session is a run of records of
 * either input each within gap_ms of the one before, merged as fl_window's
 * sessions are), joined when the watermark passes the window's end; what
 * join emits carries end - 1 as its timestamp (Flink's
 * window.maxTimestamp(); a session's end is its last record's time plus
 * the gap). A record whose every window fired already is late (a session
 * record: its own [t, t + gap_ms) is behind the watermark): dropped and
 * counted (the count is logged when the task ends), or sent to the stream
 * fl_join_late_records gives.
 *
 * Interval join: left at tl and right at tr join when
 * tl + lower_ms <= tr <= tl + upper_ms (both bounds inclusive, as Flink's
 * default; *_exclusive makes one exclusive); what join emits carries the
 * larger of the two timestamps. A record behind the watermark is late and
 * dropped (Flink's), or sent to fl_join_late_records' stream; buffered records are cleared once the watermark says
 * they can match nothing more.
 *
 * Both keep the waiting records in keyed state (a list per key and input,
 * read whole at every record of the key: keep the records a key holds
 * at once in the thousands) with event-time timers of the key, so
 * checkpoints, savepoints and rescaling carry them. Refused when the graph
 * is built, naming the problem: an input not keyed, a bad size or slide,
 * lower_ms > upper_ms (after the exclusive bounds), no join function.
 */
typedef int (*fl_join_fn)(fl_ctx *ctx, const fl_row *left, const fl_row *right, fl_collector *out);
typedef struct fl_window_join_spec {
	enum fl_window_kind kind; /* FL_WINDOW_TUMBLING, _SLIDING or _SESSION */
	int64_t size_ms;
	int64_t slide_ms; /* sliding windows */
	fl_join_fn join;
	int64_t gap_ms; /* session windows */
} fl_window_join_spec;
FL_API fl_stream *fl_window_join(fl_stream *left, fl_stream *right,
				 const fl_window_join_spec *spec);
typedef struct fl_interval_join_spec {
	int64_t lower_ms, upper_ms; /* tl + lower_ms <= tr <= tl + upper_ms */
	bool lower_exclusive, upper_exclusive;
	fl_join_fn join;
} fl_interval_join_spec;
FL_API fl_stream *fl_interval_join(fl_stream *left, fl_stream *right,
				   const fl_interval_join_spec *spec);

/*
 * Window coGroup (Flink's a.coGroup(b).where(ka).equalTo(kb).window(...)
 * .apply(CoGroupFunction)): windows as fl_window_join's (tumbling, sliding,
 * session in event time, the same late records). Once per key and window
 * that holds a record of either input, when the watermark passes the
 * window's end, `cogroup` gets every left record of the window and every
 * right one, each side in the order its records arrived (either side may
 * have none: a left or full outer join is a coGroup that also emits the
 * rows without a match), and emits zero or more rows through fl_collect,
 * at end - 1. The arrays and their rows are valid during the call only.
 * Refused when the graph is built as fl_window_join is, naming the
 * problem.
 */
typedef int (*fl_cogroup_fn)(fl_ctx *ctx, const fl_row *left, size_t nleft, const fl_row *right,
			     size_t nright, fl_collector *out);
typedef struct fl_window_cogroup_spec {
	enum fl_window_kind kind; /* FL_WINDOW_TUMBLING, _SLIDING or _SESSION */
	int64_t size_ms;
	int64_t slide_ms; /* sliding windows */
	int64_t gap_ms;	  /* session windows */
	fl_cogroup_fn cogroup;
} fl_window_cogroup_spec;
FL_API fl_stream *fl_window_cogroup(fl_stream *left, fl_stream *right,
				    const fl_window_cogroup_spec *spec);

/*
 * The late records of one input of a join or coGroup (Flink's interval
 * join sideOutputLeftLateData / sideOutputRightLateData; here for the
 * window join and coGroup too): the records of input 0 (left) or 1
 * (right) it dropped for being late, with their timestamps, as a stream
 * of their own (its consumers never chain to the join). `joined` is what
 * fl_window_join, fl_interval_join or fl_window_cogroup returned. Without
 * it late records are only counted. It is the side output
 * FL_LATE_LEFT_TAG or FL_LATE_RIGHT_TAG of the join.
 */
FL_API fl_stream *fl_join_late_records(fl_stream *joined, int input);
#define FL_LATE_LEFT_TAG "late-left"
#define FL_LATE_RIGHT_TAG "late-right"

/* Union of two streams of the same shape. */
FL_API fl_stream *fl_union(fl_stream *a, fl_stream *b);
/* Explicit partitioning of the next operator's input. */
FL_API fl_stream *fl_rebalance(fl_stream *in);
FL_API fl_stream *fl_broadcast(fl_stream *in);
FL_API fl_stream *fl_forward(fl_stream *in);

/* ----------------------------------------------------------------- sinks */

/* Prints each row as fl_row_format text to stdout; with parallelism > 1 each
 * line is prefixed by "N> ", N the 1-based subtask, as Flink does. */
FL_API fl_stream *fl_print(fl_stream *in);
/*
 * Writes lines into the directory `dir` (created if missing), one file per
 * subtask, all or nothing: subtasks write hidden .part-<run>-<subtask>
 * .inprogress.<attempt> files (<attempt>: the job attempt's 16 hex digits),
 * and only when the whole job FINISHED are the last attempt's renamed
 * part-<run>-<subtask> (<run>: the first 16 hex digits of the job id) and
 * a _SUCCESS file written; a failed or cancelled job leaves nothing. A
 * directory that already holds output is refused unless the configuration
 * allows overwriting (fs.overwrite-files: true, as Flink's NO_OVERWRITE
 * default); then the earlier run's files are replaced at the commit. Two
 * sinks may not share a directory, however it is spelled.
 */
FL_API fl_stream *fl_write_text(fl_stream *in, const char *dir);
FL_API fl_stream *fl_discard(fl_stream *in);

/* ------------------------------------------------------------ keyed state */

/*
 * Keyed state (Flink's ValueState, ListState, MapState, ReducingState and
 * AggregatingState), reachable from a process function (fl_process) only,
 * always scoped to the current key:
 *
 *     static const fl_state_desc COUNT = {
 *         .name = "count", .value = {.nfields = 1, .types = {FL_INT64}}};
 *
 *     int count_per_key(fl_ctx *ctx, const fl_row *in, fl_collector *out) {
 *         fl_value_state *count = fl_get_state(ctx, &COUNT);
 *         fl_row v;
 *         int rc = fl_value_state_get(count, &v);        (1 found, 0 absent)
 *         if (rc < 0)
 *             return rc;
 *         int64_t n = (rc ? fl_row_int64(&v, 0) : 0) + 1;
 *         fl_row_clear(&v);
 *         fl_row_add_int64(&v, n);
 *         if ((rc = fl_value_state_update(count, &v)) != 0)
 *             return rc;
 *         ...
 *     }
 *
 * A state is declared by its descriptor the first time a subtask asks for
 * it (Flink declares in open(); a C function has no object to keep the
 * handle in, so the descriptor, usually a static const, is the handle's
 * name). Asking again is a table lookup. A name asked for again as another
 * kind, or with another type, TTL or function, fails the task naming the
 * state and the operator; so do a stored value that does not decode as the
 * declared type, a key too long for the state backend (LMDB: 496 bytes),
 * and a state backend error. A state call that failed returns a negative
 * FL_E* code, which the process function should return; the task fails
 * with the state's message even if it does not.
 *
 * Values are rows. FL_STATE_ROW stores any row in the row codec (with
 * nfields > 0, exactly that many fields of those types; a field may also
 * be null); FL_STATE_BYTES stores the bytes of a row of one FL_BYTES field
 * as they are (user-serialised data, no codec). Rows read from state, and
 * iterators, point into memory that stays valid until the process
 * function returns.
 *
 * Layout (what it costs): a ValueState, ReducingState or AggregatingState
 * is one entry per key; a ListState or MapState is also one entry per key,
 * holding the whole list (map: sorted by map key bytes), so reading,
 * adding or putting costs time linear in its size: keep them to thousands
 * of elements, not millions. An entry is at most 16 MiB.
 */

enum fl_state_format {
	FL_STATE_ROW = 0,  /* rows in the row codec */
	FL_STATE_BYTES = 1 /* a row of one FL_BYTES field, stored as raw bytes */
};

/* The type of a state's values (or of a MapState's map keys). Zeroes:
 * any row. */
typedef struct fl_state_type {
	enum fl_state_format format;
	uint32_t nfields;		  /* FL_STATE_ROW: 0 any shape, else the row's fields */
	uint8_t types[FL_ROW_MAX_FIELDS]; /* their enum fl_type (FL_NULL also accepted) */
} fl_state_type;

/* Time to live (Flink's StateTtlConfig), in processing time. */
enum fl_ttl_update {
	FL_TTL_ON_CREATE_AND_WRITE = 0, /* writes refresh the timestamp (the default) */
	FL_TTL_ON_READ_AND_WRITE = 1	/* reads refresh it too */
};
enum fl_ttl_visibility {
	FL_TTL_NEVER_RETURN_EXPIRED = 0,	    /* an expired value reads as absent (default) */
	FL_TTL_RETURN_EXPIRED_IF_NOT_CLEANED_UP = 1 /* returned once, then cleaned up */
};
typedef struct fl_state_ttl {
	int64_t ttl_ms; /* 0: no TTL; else the value expires ttl_ms after its last update */
	enum fl_ttl_update update;
	enum fl_ttl_visibility visibility;
} fl_state_ttl;

/* A state descriptor. The functions are called in place (not shipped by
 * name): the descriptor lives in the job's library like the process
 * function that uses it. */
typedef struct fl_state_desc {
	const char *name;     /* unique within the operator, 1..255 bytes */
	fl_state_type value;  /* the value, list element, map value, accumulator */
	fl_state_type key;    /* MapState: the map keys */
	fl_state_ttl ttl;     /* expired values are removed when read, and never
			       * written into a checkpoint or savepoint */
	fl_reduce_fn reduce;  /* ReducingState: folds a new value into the old */
	fl_aggregate_fns agg; /* AggregatingState */
} fl_state_desc;

typedef struct fl_value_state fl_value_state;
typedef struct fl_list_state fl_list_state;
typedef struct fl_map_state fl_map_state;
typedef struct fl_reducing_state fl_reducing_state;
typedef struct fl_aggregating_state fl_aggregating_state;
/* An iterator over a list's elements or a map's entries. */
typedef struct fl_state_iter fl_state_iter;

/*
 * The state of desc for this operator, declared on first use (Flink's
 * getState, getListState, getMapState, getReducingState,
 * getAggregatingState). The handle is valid for the rest of the subtask's
 * life and always acts on the current key. NULL outside a process function
 * or when the declaration is refused (the task then fails with the
 * reason); every state function given NULL returns FL_EINVAL.
 */
FL_API fl_value_state *fl_get_state(fl_ctx *ctx, const fl_state_desc *desc);
FL_API fl_list_state *fl_get_list_state(fl_ctx *ctx, const fl_state_desc *desc);
FL_API fl_map_state *fl_get_map_state(fl_ctx *ctx, const fl_state_desc *desc);
FL_API fl_reducing_state *fl_get_reducing_state(fl_ctx *ctx, const fl_state_desc *desc);
FL_API fl_aggregating_state *fl_get_aggregating_state(fl_ctx *ctx, const fl_state_desc *desc);

/*
 * The current key, in a process function: decoded into *key (the key_by
 * field as a one-field row, or the row the fl_key_by_fn selector built;
 * strings valid until the function returns). Returns 0, or FL_EINVAL
 * outside a process function. fl_ctx_current_key_bytes gives its encoded
 * bytes (the row codec's; NULL and *len 0 outside).
 */
FL_API int fl_ctx_current_key(fl_ctx *ctx, fl_row *key);
FL_API const void *fl_ctx_current_key_bytes(fl_ctx *ctx, size_t *len);

/* Every read below returns 1 (found, *out set), 0 (absent) or a negative
 * FL_E* code; every write 0 or a negative code. */

/* ValueState: value() / update() / clear(). */
FL_API int fl_value_state_get(fl_value_state *s, fl_row *out);
FL_API int fl_value_state_update(fl_value_state *s, const fl_row *value);
FL_API int fl_value_state_clear(fl_value_state *s);

/* ListState: get() (an iterator; 1 when the list has elements, 0 when it
 * is empty or absent) / add() / addAll() / update() (n == 0 clears) /
 * clear(). */
FL_API int fl_list_state_get(fl_list_state *s, fl_state_iter **it);
FL_API int fl_list_state_add(fl_list_state *s, const fl_row *value);
FL_API int fl_list_state_add_all(fl_list_state *s, const fl_row *values, size_t n);
FL_API int fl_list_state_update(fl_list_state *s, const fl_row *values, size_t n);
FL_API int fl_list_state_clear(fl_list_state *s);

/* MapState: get / put / remove / contains / entries (in order of the map
 * keys' encoded bytes) / isEmpty (1 empty, 0 not) / clear. */
FL_API int fl_map_state_get(fl_map_state *s, const fl_row *key, fl_row *value);
FL_API int fl_map_state_put(fl_map_state *s, const fl_row *key, const fl_row *value);
FL_API int fl_map_state_remove(fl_map_state *s, const fl_row *key);
FL_API int fl_map_state_contains(fl_map_state *s, const fl_row *key);
FL_API int fl_map_state_entries(fl_map_state *s, fl_state_iter **it);
FL_API int fl_map_state_is_empty(fl_map_state *s);
FL_API int fl_map_state_clear(fl_map_state *s);

/* Iterators: the next list element (fl_state_iter_next) or map entry
 * (fl_state_iter_next_entry; value may be NULL): 1, or 0 at the end. They
 * iterate over the state as it was when the iterator was made. */
FL_API int fl_state_iter_next(fl_state_iter *it, fl_row *elem);
FL_API int fl_state_iter_next_entry(fl_state_iter *it, fl_row *key, fl_row *value);

/* ReducingState: get() / add() (the first value as it is, later ones
 * folded in by desc->reduce) / clear(). */
FL_API int fl_reducing_state_get(fl_reducing_state *s, fl_row *out);
FL_API int fl_reducing_state_add(fl_reducing_state *s, const fl_row *value);
FL_API int fl_reducing_state_clear(fl_reducing_state *s);

/* AggregatingState: get() (desc->agg.result of the accumulator) / add()
 * (into the accumulator, created by desc->agg.create when absent) /
 * clear(). */
FL_API int fl_aggregating_state_get(fl_aggregating_state *s, fl_row *out);
FL_API int fl_aggregating_state_add(fl_aggregating_state *s, const fl_row *value);
FL_API int fl_aggregating_state_clear(fl_aggregating_state *s);

/* ------------------------------------------------------ broadcast state */

/*
 * The broadcast state pattern (Flink's broadcast(MapStateDescriptor) and
 * KeyedBroadcastProcessFunction): fl_broadcast_state(in, &desc) sends every
 * record of `in` to every subtask of the next operator and declares the
 * broadcast state desc (a MapState: a name, the map key and value types;
 * no TTL, no functions); connect a keyed stream with it and give
 * fl_broadcast_process:
 *
 *   process            the keyed stream's records, with their key current
 *                      (keyed state, timers with on_timer) and the
 *                      broadcast state read-only (a write fails the task);
 *   process_broadcast  the broadcast stream's records, on every subtask,
 *                      with the broadcast state read-write and no current
 *                      key (no keyed state, no timers); it must change
 *                      the state the same way on every subtask;
 *   on_timer           as fl_keyed_process's, broadcast state read-only.
 *
 * Connected with a stream that is not keyed, it is Flink's
 * BroadcastProcessFunction: process gets that stream's records with the
 * broadcast state read-only and no keyed state; on_timer is refused.
 *
 * fl_get_broadcast_state(ctx, &desc) is the broadcast state in these
 * functions (the fl_map_state_* calls act on it); asking for it elsewhere,
 * or by a name the broadcast stream did not declare, fails the task naming
 * it. Checkpoints: every subtask writes its copy; a restore at any
 * parallelism gives each subtask one copy (Flink's), and the keyed state
 * and timers move by key group as a keyed process function's.
 */
FL_API fl_stream *fl_broadcast_state(fl_stream *in, const fl_state_desc *desc);
typedef struct fl_broadcast_process_spec {
	fl_process_fn process;		 /* the keyed stream's records: required */
	fl_process_fn process_broadcast; /* the broadcast records: required */
	fl_on_timer_fn on_timer;	 /* NULL: no timers */
} fl_broadcast_process_spec;
FL_API fl_stream *fl_broadcast_process(fl_stream *connected, const fl_broadcast_process_spec *spec);
FL_API fl_map_state *fl_get_broadcast_state(fl_ctx *ctx, const fl_state_desc *desc);

/* --------------------------------------------- per-operator properties */

/* Each returns its argument for chaining calls; they apply to operators and
 * sinks, not to keyed or partitioned views (an error). */
FL_API fl_stream *fl_set_parallelism(fl_stream *s, int parallelism);
FL_API fl_stream *fl_set_max_parallelism(fl_stream *s, int max_parallelism);
FL_API fl_stream *fl_name(fl_stream *s, const char *name);
/*
 * The operator's stable id (Flink's uid()): how a savepoint or checkpoint
 * names its state, so that a changed program finds it again. At most 128
 * printable bytes without '/', unique within the job. Without one, an
 * operator's id is generated from its kind and its position in the program
 * ("sum-3"): stable while the program's operators stay the same, lost when
 * operators are added before it — set uids on stateful operators of jobs
 * that will be upgraded, as Flink advises.
 */
FL_API fl_stream *fl_uid(fl_stream *s, const char *uid);
FL_API fl_stream *fl_disable_chaining(fl_stream *s);
FL_API fl_stream *fl_start_new_chain(fl_stream *s);
FL_API fl_stream *fl_slot_sharing_group(fl_stream *s, const char *group);
/*
 * The resources a slot of a slot sharing group needs (Flink's
 * SlotSharingGroup.newBuilder(name).setCpuCores(..).setTaskHeapMemoryMB(..)
 * .setTaskOffHeapMemoryMB(..).setManagedMemoryMB(..) with
 * env.registerSlotSharingGroup). cpu_cores and task_heap_mb are required
 * (above 0), the memories in MiB at least 0.
 */
typedef struct fl_resource_spec {
	double cpu_cores;
	int64_t task_heap_mb;
	int64_t task_off_heap_mb;
	int64_t managed_mb;
} fl_resource_spec;
/*
 * Declares the resources of slot sharing group `group` (fine-grained
 * resource management): a cluster's ResourceManager cuts a dynamic slot of
 * exactly that size from a TaskManager's free resources for each slot the
 * group needs (as many as its widest operator's parallelism). Groups
 * without a declaration, "default" included, get TaskManagers' default
 * slots (a TaskManager's total resources / taskmanager.numberOfTaskSlots).
 * Operators join a group with fl_slot_sharing_group; a declaration for a
 * group no operator uses is ignored. Registering a group again replaces
 * its resources; declarations stay with env across fl_execute calls.
 * A job whose slots no TaskManager can fit waits slot.request.timeout and
 * fails with a message naming the group and its profile. The local
 * cluster (--local, a job run directly) does not enforce profiles, as
 * Flink's local execution does not.
 * Returns 0, or FL_EINVAL (an empty name, "default", a spec out of range;
 * fl_env_error says which) or FL_ENOMEM; the first error also fails
 * fl_execute, as every graph-building error does.
 */
FL_API int fl_register_slot_sharing_group(fl_env *env, const char *group,
					  const fl_resource_spec *spec);
/*
 * Co-location (Flink's CoLocationGroup): subtask i of every operator of the
 * named group runs in the same slot, a hard constraint where slot sharing
 * is a permission. The operators of a group must have the same
 * parallelism and slot sharing group, or the job is refused naming them.
 */
FL_API fl_stream *fl_colocate(fl_stream *s, const char *group);

/* -------------------------------------------------------------- programs */

/*
 * fl_program_main runs one of flinc's programs with its command line and
 * returns its exit code: "flinc" is the client (`flinc run`, `flinc plan`).
 * The installed executables are only this call; it lives in the library so
 * that a job loaded by the program shares the program's runtime. A program
 * that embeds flinc may call it too. An unknown program name gives 2.
 */
FL_API int fl_program_main(const char *program, int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif /* FLINC_FLINC_H */
