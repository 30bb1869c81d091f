/*
 * fuzz_part_name.c — libFuzzer target for the text sink's part file names
 * (runtime/graph/outputs.h): outputs_name_parse reads every entry of an
 * output directory, and a sink's or a commit's clean-up removes a file by
 * the name outputs_name_path formats from what the parse gave.
 *
 * Properties: the parse never crashes on any name; a refusal leaves *n as
 * it was; a name it accepts is canonical: formatted back it is exactly the
 * name read (so a clean-up removes the file listed, never another), its
 * run is a run id, its subtask not negative, and it is hidden exactly when
 * its kind is one of the in-progress ones (WHOLE, ROLLING, AT_END).
 *
 * The input is a name as readdir gives one: the bytes up to the first NUL.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <flinc/flinc.h>

#include "graph/outputs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[300];
	if (size >= sizeof(name))
		return 0;
	memcpy(name, data, size);
	name[size] = '\0';
	outputs_name n, before;
	memset(&n, 0x5a, sizeof(n));
	before = n;
	enum outputs_kind k = outputs_name_parse(name, &n);
	if (k == OUTPUTS_NONE) {
		if (memcmp(&n, &before, sizeof(n)) != 0)
			__builtin_trap();
		return 0;
	}
	if (k != n.kind || !outputs_run_id_valid(n.run) || n.subtask < 0)
		__builtin_trap();
	bool hidden = k == OUTPUTS_WHOLE || k == OUTPUTS_ROLLING || k == OUTPUTS_AT_END;
	if (hidden != (name[0] == '.') ||
	    (!hidden && k != OUTPUTS_PUBLISHED && k != OUTPUTS_COMMITTED))
		__builtin_trap();
	char path[400];
	if (outputs_name_path(path, sizeof(path), "d", &n) != 0)
		__builtin_trap();
	if (strncmp(path, "d/", 2) != 0 || strcmp(path + 2, name) != 0)
		__builtin_trap();
	return 0;
}
