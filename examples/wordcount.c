/*
 * WordCount — the classic streaming example, as in Flink's examples.
 *
 *   flinc run --local wordcount.so [--input PATH]... [--output DIR]
 *                                  [--mode streaming|batch]
 *
 * Words are maximal runs of ASCII letters and digits, lowercased. Output
 * lines are `word<TAB>count`. In streaming mode every update is emitted (the
 * last one per word is the final count); in batch mode one line per word.
 * Without --input a built-in text is used; without --output the counts are
 * printed to stdout.
 *
 * Build your own job the same way:
 *   cc -shared -fPIC wordcount.c -o wordcount.so $(pkg-config --cflags --libs flinc)
 */
#include <stdio.h>
#include <string.h>

#include <flinc/flinc.h>

static const char *const TEXT[] = {
    "To be, or not to be,--that is the question:--",
    "Whether 'tis nobler in the mind to suffer",
    "The slings and arrows of outrageous fortune",
    "Or to take arms against a sea of troubles,",
    "And by opposing end them?--To die,--to sleep,--",
    "No more; and by a sleep to say we end",
    "The heartache, and the thousand natural shocks",
    "That flesh is heir to,--'tis a consummation",
    "Devoutly to be wish'd. To die,--to sleep;--",
    "To sleep! perchance to dream:--ay, there's the rub;",
    "For in that sleep of death what dreams may come,",
    "When we have shuffled off this mortal coil,",
    "Must give us pause: there's the respect",
    "That makes calamity of so long life;",
};
#define TEXT_LINES ((int64_t)(sizeof(TEXT) / sizeof(TEXT[0])))

/* Generator for the built-in text: line `offset`. Exported (not static) so
 * the runtime can ship it to TaskManagers by name. */
int wordcount_builtin_line(fl_ctx *ctx, int64_t offset, fl_row *out)
{
	const char *line = TEXT[offset];
	return fl_row_add_string(out, line, strlen(line));
}

static int is_word_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Splits a line into (word, 1) rows. */
int wordcount_tokenize(fl_ctx *ctx, const fl_row *in, fl_collector *out)
{
	size_t len;
	const char *s = fl_row_string(in, 0, &len);
	size_t i = 0;
	while (i < len) {
		while (i < len && !is_word_char((unsigned char)s[i]))
			i++;
		size_t start = i;
		int upper = 0;
		while (i < len && is_word_char((unsigned char)s[i])) {
			upper |= s[i] >= 'A' && s[i] <= 'Z';
			i++;
		}
		if (i == start)
			break;
		const char *word = s + start;
		size_t wlen = i - start;
		if (upper) {
			/* Lowercase into per-record scratch memory. */
			char *w = fl_ctx_scratch(ctx, wlen);
			if (!w)
				return fl_fail(ctx, "a line holds more than 1 MiB of words");
			for (size_t k = 0; k < wlen; k++) {
				char c = word[k];
				w[k] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
			}
			word = w;
		}
		fl_row row;
		fl_row_clear(&row);
		fl_row_add_string(&row, word, wlen);
		fl_row_add_int64(&row, 1);
		int rc = fl_collect(out, &row);
		if (rc)
			return rc;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *inputs[256];
	size_t ninputs = 0;
	const char *output = NULL;
	int batch = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--input") == 0 && i + 1 < argc) {
			if (ninputs == sizeof(inputs) / sizeof(inputs[0])) {
				fprintf(stderr, "wordcount: at most 256 --input files\n");
				return 2;
			}
			inputs[ninputs++] = argv[++i];
		} else if (strcmp(argv[i], "--output") == 0 && i + 1 < argc) {
			output = argv[++i];
		} else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
			const char *m = argv[++i];
			if (strcmp(m, "batch") == 0) {
				batch = 1;
			} else if (strcmp(m, "streaming") != 0) {
				fprintf(stderr, "wordcount: --mode must be streaming or batch, not '%s'\n", m);
				return 2;
			}
		} else {
			fprintf(stderr,
				"wordcount: unknown argument '%s'\n"
				"usage: wordcount [--input PATH]... [--output DIR] [--mode streaming|batch]\n",
				argv[i]);
			return 2;
		}
	}

	fl_env *env = fl_env_new(argc, argv);
	if (!env) {
		fprintf(stderr, "wordcount: out of memory\n");
		return 1;
	}
	if (batch)
		fl_env_set_runtime_mode(env, FL_MODE_BATCH);
	fl_stream *text;
	if (ninputs > 0) {
		text = fl_read_text_files(env, inputs, ninputs);
	} else {
		/* The built-in text is small: one source subtask reads it. */
		text = fl_set_parallelism(fl_generator(env, TEXT_LINES, 0, wordcount_builtin_line), 1);
		text = fl_name(text, "Source: Built-in Text");
	}
	fl_stream *words = fl_name(fl_flat_map(text, wordcount_tokenize), "Tokenizer");
	fl_stream *counts = fl_sum(fl_key_by(words, 0), 1);
	if (output)
		fl_write_text(counts, output);
	else
		fl_print(counts);
	/* How the job ended is reported by whoever runs it (the flinc CLI, or
	 * the runtime itself when this is linked into a program). */
	int rc = fl_execute(env, "WordCount");
	fl_env_free(env);
	return rc == 0 ? 0 : 1;
}
