/*
 * bench_gentext SIZE_MB [VOCABULARY] — writes a deterministic English-like
 * text of SIZE_MB megabytes to stdout: words from a vocabulary of
 * VOCABULARY (default 100000) generated words, drawn with a Zipf-like skew
 * (a few words very common, most rare), mixed case, punctuation, lines of
 * about 80 characters.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_gentext SIZE_MB [VOCABULARY]\n");
		return 2;
	}
	long long mb = atoll(argv[1]);
	long vocab = argc > 2 ? atol(argv[2]) : 100000;
	if (mb <= 0 || vocab <= 0) {
		fprintf(stderr, "bench_gentext: SIZE_MB and VOCABULARY must be positive\n");
		return 2;
	}
	static const char letters[] = "etaoinshrdlucmfwypvbgkjqxz";
	char (*words)[16] = calloc((size_t)vocab, 16);
	if (!words)
		return 1;
	for (long i = 0; i < vocab; i++) {
		int len = 2 + (int)(next() % 9);
		for (int k = 0; k < len; k++)
			words[i][k] = letters[next() % 26 < 20 ? next() % 10 : next() % 26];
		snprintf(words[i] + len, 16 - (size_t)len, "%ld", i % 7 == 0 ? i % 100 : -1L);
		if (i % 7 != 0)
			words[i][len] = '\0';
	}
	static char out[1 << 16];
	size_t used = 0, line = 0;
	long long total = 0, limit = mb * 1000000;
	while (total < limit) {
		/* Zipf-like: the index is the square of a uniform draw. */
		double u = (double)(next() % 1000000) / 1000000.0;
		long w = (long)(u * u * u * (double)vocab);
		const char *word = words[w];
		size_t n = strlen(word);
		if (used + n + 4 > sizeof(out)) {
			fwrite(out, 1, used, stdout);
			used = 0;
		}
		if (next() % 16 == 0)
			out[used++] = (char)(word[0] - 'a' + 'A');
		else
			out[used++] = word[0];
		memcpy(out + used, word + 1, n - 1);
		used += n - 1;
		line += n + 1;
		total += (long long)n + 1;
		uint64_t r = next() % 32;
		if (r == 0)
			out[used++] = ',';
		else if (r == 1)
			out[used++] = '.';
		if (line > 80) {
			out[used++] = '\n';
			line = 0;
		} else {
			out[used++] = ' ';
		}
	}
	out[used++] = '\n';
	fwrite(out, 1, used, stdout);
	free(words);
	return 0;
}
