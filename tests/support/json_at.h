/*
 * json_at.h — test helpers that read a cJSON document by a dotted path
 * ("spec.containers.0.image": a digit-led part is an array index) and
 * assert what stands there. Include after <cmocka.h> and <cJSON.h>.
 */
#ifndef FLINC_TESTS_JSON_AT_H
#define FLINC_TESTS_JSON_AT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline const cJSON *at(const cJSON *o, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	const cJSON *cur = o;
	for (char *save = NULL, *p = strtok_r(buf, ".", &save); p && cur;
	     p = strtok_r(NULL, ".", &save)) {
		if (*p >= '0' && *p <= '9')
			cur = cJSON_GetArrayItem(cur, atoi(p));
		else
			cur = cJSON_GetObjectItemCaseSensitive(cur, p);
	}
	return cur;
}

static inline void assert_str_at(const cJSON *o, const char *path, const char *want)
{
	const cJSON *v = at(o, path);
	if (!cJSON_IsString(v))
		fail_msg("%s is not a string", path);
	if (strcmp(v->valuestring, want) != 0)
		fail_msg("%s is '%s', not '%s'", path, v->valuestring, want);
}

static inline void assert_num_at(const cJSON *o, const char *path, double want)
{
	const cJSON *v = at(o, path);
	if (!cJSON_IsNumber(v) || v->valuedouble != want)
		fail_msg("%s is not %g", path, want);
}

#endif
