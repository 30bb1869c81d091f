/*
 * metadata.c — the encoding of operator states and of `_metadata` files.
 */
#include "checkpoint/metadata.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/fileio.h"

static const char magic[8] = {'F', 'L', 'C', 'K', 'M', 'E', 'T', 'A'};

/* Smallest encoded operator state: seven one-byte fields, two empty
 * strings and empty bytes. */
#define MIN_STATE_BYTES 10
/* Most subtask states in one checkpoint (32768 subtasks x 64 operators). */
#define MAX_STATES (32768u * 64u)

int cp_op_state_copy(cp_op_state *dst, const cp_op_state *src)
{
	*dst = *src;
	dst->uid = NULL;
	dst->keyed_file = NULL;
	dst->data = NULL;
	dst->base_files = NULL;
	dst->nbase = 0;
	if ((src->uid && !(dst->uid = strdup(src->uid))) ||
	    (src->keyed_file && !(dst->keyed_file = strdup(src->keyed_file))) ||
	    (src->len && !(dst->data = malloc(src->len))) ||
	    (src->nbase && !(dst->base_files = calloc(src->nbase, sizeof(char *))))) {
		cp_op_state_fini(dst);
		return FL_ENOMEM;
	}
	for (size_t i = 0; i < src->nbase; i++) {
		dst->nbase++;
		if (!(dst->base_files[i] = strdup(src->base_files[i]))) {
			cp_op_state_fini(dst);
			return FL_ENOMEM;
		}
	}
	if (src->len)
		memcpy(dst->data, src->data, src->len);
	return 0;
}

void cp_op_state_fini(cp_op_state *s)
{
	free(s->uid);
	free(s->keyed_file);
	free(s->data);
	for (size_t i = 0; i < s->nbase; i++)
		free(s->base_files[i]);
	free(s->base_files);
	memset(s, 0, sizeof(*s));
}

void cp_metadata_fini(cp_metadata *m)
{
	for (size_t i = 0; i < m->nstates; i++)
		cp_op_state_fini(&m->states[i]);
	free(m->states);
	m->states = NULL;
	m->nstates = 0;
}

int cp_list_next(cm_rbuf *r, const uint8_t **e, size_t *len)
{
	if (cm_rbuf_error(r))
		return -1;
	if (cm_rbuf_remaining(r) == 0)
		return 0;
	return cm_rbuf_bytes(r, CP_OP_STATE_MAX, e, len) == 0 ? 1 : -1;
}

void cp_states_encode(cm_wbuf *w, const cp_op_state *s, size_t n)
{
	cm_wbuf_uvarint(w, n);
	for (size_t i = 0; i < n; i++) {
		cm_wbuf_str(w, s[i].uid ? s[i].uid : "");
		cm_wbuf_uvarint(w, (uint64_t)s[i].subtask);
		cm_wbuf_uvarint(w, (uint64_t)s[i].parallelism);
		cm_wbuf_uvarint(w, (uint64_t)s[i].max_parallelism);
		cm_wbuf_svarint(w, s[i].kg_first);
		cm_wbuf_svarint(w, s[i].kg_last);
		cm_wbuf_str(w, s[i].keyed_file ? s[i].keyed_file : "");
		cm_wbuf_uvarint(w, s[i].keyed_bytes);
		cm_wbuf_bytes(w, s[i].data, s[i].len);
		cm_wbuf_uvarint(w, s[i].nbase);
		for (size_t k = 0; k < s[i].nbase; k++)
			cm_wbuf_str(w, s[i].base_files[k]);
	}
}

/* A relative path inside the checkpoint directory: no "..", no leading
 * "/", no empty or "." component, printable. */
static bool safe_relative(const char *p)
{
	if (!*p || *p == '/')
		return false;
	for (const char *c = p; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return false;
	const char *s = p;
	while (*s) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		s += n + (e ? 1 : 0);
		if (e && !*s)
			return false; /* trailing slash */
	}
	return true;
}

bool cp_base_file_ok(const char *p)
{
	if (strncmp(p, "../chk-", 7) != 0)
		return false;
	const char *d = p + 7, *e = d;
	while (*e >= '0' && *e <= '9')
		e++;
	return e > d && e - d <= 20 && *e == '/' && e[1] && !strchr(e + 1, '/') &&
	       safe_relative(e + 1);
}

static int decode_one(cm_rbuf *r, cp_op_state *s, uint32_t version)
{
	size_t at = cm_rbuf_offset(r);
	if (cm_rbuf_strdup(r, CP_UID_MAX, &s->uid))
		return cm_rbuf_error(r);
	uint64_t sub = cm_rbuf_uvarint(r), par = cm_rbuf_uvarint(r), maxp = cm_rbuf_uvarint(r);
	int64_t first = cm_rbuf_svarint(r), last = cm_rbuf_svarint(r);
	if (cm_rbuf_strdup(r, 4096, &s->keyed_file))
		return cm_rbuf_error(r);
	s->keyed_bytes = cm_rbuf_uvarint(r);
	const uint8_t *data;
	size_t len;
	if (cm_rbuf_bytes(r, CP_OP_STATE_MAX, &data, &len))
		return cm_rbuf_error(r);
	if (cm_rbuf_error(r))
		return cm_rbuf_error(r);
	if (!s->uid || !s->uid[0])
		return cm_rbuf_fail(r, "operator state at byte %zu has no uid", at);
	if (maxp < 1 || maxp > 32768 || par < 1 || par > maxp || sub >= par)
		return cm_rbuf_fail(r,
				    "operator '%.64s': subtask %llu of parallelism %llu, max "
				    "parallelism %llu is out of range",
				    s->uid, (unsigned long long)sub, (unsigned long long)par,
				    (unsigned long long)maxp);
	s->subtask = (int)sub;
	s->parallelism = (int)par;
	s->max_parallelism = (int)maxp;
	bool keyed = !(first == -1 && last == -1);
	if (keyed && (first < 0 || last < first || last >= (int64_t)maxp))
		return cm_rbuf_fail(r,
				    "operator '%.64s' subtask %d: key groups %lld..%lld are not "
				    "within 0..%d",
				    s->uid, s->subtask, (long long)first, (long long)last,
				    s->max_parallelism - 1);
	s->kg_first = (int)first;
	s->kg_last = (int)last;
	if (s->keyed_file && !s->keyed_file[0]) {
		free(s->keyed_file);
		s->keyed_file = NULL;
	}
	if (s->keyed_file && !safe_relative(s->keyed_file))
		return cm_rbuf_fail(r,
				    "operator '%.64s' subtask %d: state file '%.128s' is not a "
				    "relative path inside the checkpoint",
				    s->uid, s->subtask, s->keyed_file);
	if (s->keyed_file && !keyed)
		return cm_rbuf_fail(r,
				    "operator '%.64s' subtask %d has a keyed state file but no "
				    "key groups",
				    s->uid, s->subtask);
	if (len) {
		if (!(s->data = malloc(len)))
			return FL_ENOMEM;
		memcpy(s->data, data, len);
		s->len = len;
	}
	uint64_t nbase = version >= 3 ? cm_rbuf_uvarint(r) : 0;
	if (cm_rbuf_error(r))
		return cm_rbuf_error(r);
	if (nbase > CP_CHAIN_MAX || (nbase && !s->keyed_file))
		return cm_rbuf_fail(r,
				    "operator '%.64s' subtask %d: %llu earlier state files (at most "
				    "%d, and only beside a state file of its own)",
				    s->uid, s->subtask, (unsigned long long)nbase, CP_CHAIN_MAX);
	if (nbase && !(s->base_files = calloc((size_t)nbase, sizeof(char *))))
		return FL_ENOMEM;
	for (uint64_t i = 0; i < nbase; i++) {
		if (cm_rbuf_strdup(r, 4096, &s->base_files[i]))
			return cm_rbuf_error(r);
		s->nbase++;
		if (!s->base_files[i] || !cp_base_file_ok(s->base_files[i]))
			return cm_rbuf_fail(r,
					    "operator '%.64s' subtask %d: earlier state file "
					    "'%.128s' is not ../chk-<id>/<name>",
					    s->uid, s->subtask,
					    s->base_files[i] ? s->base_files[i] : "");
	}
	return 0;
}

static int states_decode(cm_rbuf *r, cp_op_state **out, size_t *n, cm_err *err,
			 uint32_t version);

int cp_states_decode(cm_rbuf *r, cp_op_state **out, size_t *n, cm_err *err)
{
	return states_decode(r, out, n, err, CP_METADATA_VERSION);
}

static int states_decode(cm_rbuf *r, cp_op_state **out, size_t *n, cm_err *err,
			 uint32_t version)
{
	*out = NULL;
	*n = 0;
	size_t count = cm_rbuf_count(r, MAX_STATES, MIN_STATE_BYTES);
	cp_op_state *s = count ? calloc(count, sizeof(*s)) : NULL;
	if (count && !s)
		return cm_err_set(err, FL_ENOMEM, "out of memory");
	int rc = cm_rbuf_error(r);
	size_t done = 0;
	while (rc == 0 && done < count) {
		rc = decode_one(r, &s[done], version);
		done++;
	}
	if (rc) {
		for (size_t i = 0; i < done; i++)
			cp_op_state_fini(&s[i]);
		free(s);
		return rc == FL_ENOMEM ? cm_err_set(err, FL_ENOMEM, "out of memory")
				       : cm_err_set(err, FL_EPROTO, "%s", cm_rbuf_errmsg(r));
	}
	*out = s;
	*n = count;
	return 0;
}

int cp_metadata_encode(const cp_metadata *m, uint8_t **out, size_t *len)
{
	cm_wbuf w;
	cm_wbuf_init(&w, CP_METADATA_MAX);
	cm_wbuf_raw(&w, magic, sizeof(magic));
	cm_wbuf_u32le(&w, CP_METADATA_VERSION);
	cm_wbuf_str(&w, m->job_id);
	cm_wbuf_uvarint(&w, m->id);
	cm_wbuf_svarint(&w, m->timestamp_ms);
	cm_wbuf_u8(&w, (uint8_t)m->kind);
	cp_states_encode(&w, m->states, m->nstates);
	uint32_t crc = cm_wbuf_error(&w) ? 0 : cm_crc32c(0, cm_wbuf_data(&w), cm_wbuf_len(&w));
	cm_wbuf_u32le(&w, crc);
	int rc = cm_wbuf_error(&w);
	if (rc) {
		cm_wbuf_fini(&w);
		return rc;
	}
	*out = cm_wbuf_take(&w, len);
	cm_wbuf_fini(&w);
	return *out ? 0 : FL_ENOMEM;
}

int cp_metadata_decode(const uint8_t *p, size_t len, const char *what, cp_metadata *m, cm_err *err)
{
	memset(m, 0, sizeof(*m));
	if (len < sizeof(magic) + 8 || memcmp(p, magic, sizeof(magic)) != 0)
		return cm_err_set(err, FL_EPROTO,
				  "%s is not a flinc checkpoint metadata file (no FLCKMETA header)",
				  what);
	cm_rbuf r;
	cm_rbuf_init(&r, p + sizeof(magic), len - sizeof(magic));
	uint32_t version = cm_rbuf_u32le(&r);
	if (version < 2 || version > CP_METADATA_VERSION)
		return cm_err_set(err, FL_EPROTO,
				  "%s has metadata format version %u; this flinc reads versions 2 "
				  "to %d",
				  what, version, CP_METADATA_VERSION);
	uint32_t want, got = cm_crc32c(0, p, len - 4);
	memcpy(&want, p + len - 4, 4);
	want = le32toh(want);
	if (want != got)
		return cm_err_set(err, FL_EPROTO,
				  "%s is corrupt: its checksum is %08x, its content's %08x", what,
				  want, got);
	cm_rbuf_init(&r, p + sizeof(magic) + 4, len - sizeof(magic) - 8);
	char *job = NULL;
	cm_rbuf_strdup(&r, 32, &job);
	m->id = cm_rbuf_uvarint(&r);
	m->timestamp_ms = cm_rbuf_svarint(&r);
	uint8_t kind = cm_rbuf_u8(&r);
	int rc = cm_rbuf_error(&r);
	if (rc == 0 && kind > CP_SAVEPOINT)
		rc = cm_rbuf_fail(&r, "unknown checkpoint kind %u", kind);
	if (rc == 0 && (!job || strlen(job) != 32))
		rc = cm_rbuf_fail(&r, "the job id is not 32 hex digits");
	if (job)
		snprintf(m->job_id, sizeof(m->job_id), "%s", job);
	free(job);
	m->kind = (enum cp_kind)kind;
	cm_err e = {0};
	if (rc == 0 && (rc = states_decode(&r, &m->states, &m->nstates, &e, version)) == 0)
		rc = cm_rbuf_end(&r);
	if (rc) {
		const char *why = e.msg[0] ? e.msg : cm_rbuf_errmsg(&r);
		cp_metadata_fini(m);
		return rc == FL_ENOMEM
			   ? cm_err_set(err, FL_ENOMEM, "out of memory")
			   : cm_err_set(err, FL_EPROTO, "%s is malformed: %s", what, why);
	}
	return 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

int cp_metadata_write(const char *dir, const cp_metadata *m, cm_err *err)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s/_metadata", dir) >= sizeof(path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/._metadata.inprogress", dir) >= sizeof(tmp))
		return cm_err_set(err, FL_EINVAL, "checkpoint directory path too long: %.200s",
				  dir);
	uint8_t *bytes;
	size_t len;
	if (cp_metadata_encode(m, &bytes, &len) != 0)
		return cm_err_set(err, FL_ENOMEM, "out of memory encoding %s", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		free(bytes);
		return cm_err_set(err, FL_EIO, "cannot write %s: %s", tmp, strerror(errno));
	}
	int wrc = cm_write_all(fd, bytes, len);
	int saved = errno;
	free(bytes);
	if (wrc != 0 || fsync(fd) != 0) {
		if (wrc == 0)
			saved = errno;
		close(fd);
		unlink(tmp);
		return cm_err_set(err, FL_EIO, "cannot write %s: %s", tmp, strerror(saved));
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		saved = errno;
		unlink(tmp);
		return cm_err_set(err, FL_EIO, "cannot write %s: %s", path, strerror(saved));
	}
	if (fsync_dir(dir) != 0)
		return cm_err_set(err, FL_EIO, "cannot sync %s: %s", dir, strerror(errno));
	return 0;
}

int cp_metadata_read(const char *path, cp_metadata *m, cm_err *err)
{
	memset(m, 0, sizeof(*m));
	char file[PATH_MAX];
	struct stat st;
	if (stat(path, &st) != 0)
		return cm_err_set(err, errno == ENOENT ? FL_ENOENT : FL_EIO,
				  "cannot read checkpoint %s: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode)) {
		if ((size_t)snprintf(file, sizeof(file), "%s/_metadata", path) >= sizeof(file))
			return cm_err_set(err, FL_EINVAL, "checkpoint path too long: %.200s", path);
	} else {
		snprintf(file, sizeof(file), "%s", path);
	}
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cm_err_set(err, errno == ENOENT ? FL_ENOENT : FL_EIO, "cannot read %s: %s%s",
				  file, strerror(errno),
				  errno == ENOENT ? " (not a completed checkpoint or savepoint)"
						  : "");
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > CP_METADATA_MAX) {
		close(fd);
		return cm_err_set(err, FL_EPROTO, "%s is not a checkpoint metadata file%s", file,
				  st.st_size > CP_METADATA_MAX ? " (too large)" : "");
	}
	size_t len = (size_t)st.st_size;
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf) {
		close(fd);
		return cm_err_set(err, FL_ENOMEM, "out of memory reading %s", file);
	}
	size_t got = 0;
	cm_read_all(fd, buf, len, &got);
	close(fd);
	int rc = got == len ? cp_metadata_decode(buf, len, file, m, err)
			    : cm_err_set(err, FL_EIO, "cannot read %s: short read", file);
	free(buf);
	return rc;
}
