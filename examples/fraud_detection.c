/*
 * Fraud detection — Flink's DataStream tutorial ("Fraud Detection with the
 * DataStream API") as a flinc job: a keyed process function flags an
 * account whose small transaction (under 1.00) is followed by a large one
 * (over 500.00) within a minute. Where Flink's FraudDetector clears its
 * flag with a processing-time timer, this one gives the flag a time to
 * live of one minute (Flink's StateTtlConfig): an expired flag reads as
 * absent.
 *
 *   flinc run --local fraud_detection.so [--count N] [--rate PER_S] [--output DIR]
 *
 * Transactions are (account, amount), generated deterministically for
 * accounts 1..5 (default 1000 of them, as fast as possible). An alert is a
 * line `alert<TAB>account<TAB>small amount<TAB>large amount`, printed, or
 * with --output written to files in DIR (fl_write_text: with checkpoints,
 * committed exactly once at each completed checkpoint).
 *
 * Build your own job the same way:
 *   cc -shared -fPIC fraud_detection.c -o fraud_detection.so $(pkg-config --cflags --libs flinc)
 */
#include <stdlib.h>
#include <string.h>

#include <flinc/flinc.h>

#define SMALL_AMOUNT 1.00
#define LARGE_AMOUNT 500.00
#define ONE_MINUTE_MS 60000

static const double AMOUNTS[] = {
    188.23, 374.79, 112.15, 478.75, 208.85, 379.64, 351.44, 320.75, 259.42, 273.44, 267.25,
    397.15, 0.219,  231.94, 384.73, 419.62, 412.91, 0.77,   22.10,  377.54, 375.44, 230.18,
    0.80,   350.89, 127.55, 483.91, 228.22, 871.15, 64.19,  79.43,  56.12,  256.48, 148.16,
    199.95, 252.37, 274.73, 473.54, 119.92, 323.59, 353.16, 211.90, 280.93, 347.89, 459.86,
    82.31,  373.26, 479.83, 454.25, 83.64,  292.44, 0.51,   834.77, 342.61, 499.12, 312.04};
#define NAMOUNTS (sizeof(AMOUNTS) / sizeof(AMOUNTS[0]))

/* Transaction `offset`: (account, amount). Exported (not static) so the
 * runtime can ship it to TaskManagers by name. */
int fd_transaction(fl_ctx *ctx, int64_t offset, fl_row *out)
{
	fl_row_add_int64(out, offset % 5 + 1);
	return fl_row_add_double(out, AMOUNTS[(size_t)offset % NAMOUNTS]);
}

/* The flag: the small amount last seen, for a minute. A descriptor is the
 * state's name, type and TTL; the runtime declares it on first use. */
static const fl_state_desc FLAG = {
    .name = "flag",
    .value = {.nfields = 1, .types = {FL_DOUBLE}},
    .ttl = {.ttl_ms = ONE_MINUTE_MS},
};

/* The keyed process function: called per transaction, with its account as
 * the current key. */
int fd_detect(fl_ctx *ctx, const fl_row *tx, fl_collector *out)
{
	fl_value_state *flag = fl_get_state(ctx, &FLAG);
	double amount = fl_row_double(tx, 1);
	fl_row small;
	int rc = fl_value_state_get(flag, &small);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		if (amount > LARGE_AMOUNT) {
			fl_row alert = {0};
			fl_row_add_string(&alert, "alert", 5);
			fl_row_add_int64(&alert, fl_row_int64(tx, 0));
			fl_row_add_double(&alert, fl_row_double(&small, 0));
			fl_row_add_double(&alert, amount);
			if ((rc = fl_collect(out, &alert)) != 0)
				return rc;
		}
		if ((rc = fl_value_state_clear(flag)) != 0)
			return rc;
	}
	if (amount < SMALL_AMOUNT) {
		fl_row v = {0};
		fl_row_add_double(&v, amount);
		return fl_value_state_update(flag, &v);
	}
	return 0;
}

int main(int argc, char **argv)
{
	int64_t count = 1000;
	double rate = 0;
	const char *output = NULL;
	for (int i = 1; i + 1 < argc; i++) {
		if (strcmp(argv[i], "--count") == 0)
			count = atoll(argv[++i]);
		else if (strcmp(argv[i], "--rate") == 0)
			rate = atof(argv[++i]);
		else if (strcmp(argv[i], "--output") == 0)
			output = argv[++i];
	}
	fl_env *env = fl_env_new(argc, argv);
	/* One source subtask, as in Flink's tutorial: each account's
	 * transactions arrive in order. A parallelism the job sets stays when
	 * the job's default changes in place (kubectl scale of a
	 * FlinkApplication): only the detector follows the new one. */
	fl_stream *tx = fl_name(fl_generator(env, count, rate, fd_transaction), "transactions");
	fl_set_parallelism(tx, 1);
	fl_stream *alerts = fl_process(fl_key_by(tx, 0), fd_detect);
	alerts = fl_name(fl_uid(alerts, "fraud-detector"), "fraud-detector");
	if (output)
		fl_write_text(alerts, output);
	else
		fl_print(alerts);
	int rc = fl_execute(env, "Fraud Detection");
	fl_env_free(env);
	return rc == 0 ? 0 : 1;
}
