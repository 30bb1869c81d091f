/*
 * remote.c — addresses, job ids, job files, REST replies and the lines
 * printed from them, for the session-cluster client (remote.h).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "client/remote.h"

/* At most this much of a user-given text is echoed in a message. */
#define SHOWN 80

/* ------------------------------------------------------------ strings */

void cl_clean(char *out, size_t cap, const char *s, size_t len, bool keep_lines)
{
	if (cap == 0)
		return;
	size_t n = len < cap - 1 ? len : cap - 1;
	/* Cut before a UTF-8 sequence that would not fit whole. */
	if (n < len)
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool ctl = c < 0x20 || c == 0x7f;
		out[i] = ctl && !(keep_lines && (c == '\n' || c == '\t')) ? '?' : (char)c;
	}
	out[n] = '\0';
}

/* s cut to SHOWN bytes and cleaned, with "..." when cut, for a message. */
static const char *shown(const char *s, char buf[SHOWN + 4])
{
	size_t len = strnlen(s, SHOWN + 1);
	cl_clean(buf, SHOWN + 1, s, len, false);
	if (len > SHOWN)
		strcat(buf, "...");
	return buf;
}

/* ------------------------------------------------------------ address */

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

int cl_address_parse(const char *s, int default_port, cl_address *out, cm_err *err)
{
	char sb[SHOWN + 4];
	if (!s || !*s)
		return cm_err_set(err, FL_EINVAL,
				  "the JobManager address is empty: expected HOST:PORT");
	const char *p = s;
	const char *scheme = "http";
	bool url = false;
	if (strncmp(p, "http://", 7) == 0) {
		p += 7;
		url = true;
	} else if (strncmp(p, "https://", 8) == 0) {
		p += 8;
		scheme = "https";
		url = true;
	} else if (strstr(p, "://")) {
		return cm_err_set(err, FL_EINVAL,
				  "JobManager address '%s': only http:// and https:// URLs are "
				  "supported",
				  shown(s, sb));
	}
	/* Host: a bracketed IPv6 address or a run of name characters. */
	const char *host = p, *host_end;
	bool v6 = *p == '[';
	if (v6) {
		host_end = strchr(p, ']');
		if (!host_end || host_end == p + 1)
			return cm_err_set(err, FL_EINVAL,
					  "JobManager address '%s': an IPv6 address needs its ']'",
					  shown(s, sb));
		for (const char *q = p + 1; q < host_end; q++)
			if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f') ||
			      (*q >= 'A' && *q <= 'F') || *q == ':' || *q == '.'))
				return cm_err_set(err, FL_EINVAL,
						  "JobManager address '%s': '%.*s' is not an IPv6 "
						  "address",
						  shown(s, sb), (int)(host_end - p - 1), p + 1);
		host_end++;
	} else {
		host_end = p;
		while (host_char(*host_end))
			host_end++;
	}
	size_t hlen = (size_t)(host_end - host);
	if (hlen == 0)
		return cm_err_set(err, FL_EINVAL,
				  "JobManager address '%s': no host: expected HOST:PORT",
				  shown(s, sb));
	if (hlen > 253 + (v6 ? 2 : 0))
		return cm_err_set(err, FL_EINVAL,
				  "JobManager address '%s': the host is longer than 253 bytes",
				  shown(s, sb));
	p = host_end;
	long port = default_port;
	if (*p == ':') {
		p++;
		if (*p < '0' || *p > '9')
			return cm_err_set(err, FL_EINVAL,
					  "JobManager address '%s': the port must be a number "
					  "between 1 and 65535",
					  shown(s, sb));
		port = 0;
		while (*p >= '0' && *p <= '9' && port <= 65535)
			port = port * 10 + (*p++ - '0');
		if (port < 1 || port > 65535 || (*p >= '0' && *p <= '9'))
			return cm_err_set(err, FL_EINVAL,
					  "JobManager address '%s': the port must be a number "
					  "between 1 and 65535",
					  shown(s, sb));
	}
	const char *after = p == host_end ? "host" : "port";
	if (url && *p == '/')
		p++;
	if (*p != '\0')
		return cm_err_set(err, FL_EINVAL,
				  "JobManager address '%s': unexpected '%s' after the %s: expected "
				  "HOST:PORT or http://HOST:PORT",
				  shown(s, sb), shown(p, (char[SHOWN + 4]){0}), after);
	if (port < 1 || port > 65535)
		return cm_err_set(err, FL_EINVAL,
				  "JobManager address '%s': no port (and the configured port %d "
				  "cannot be used)",
				  shown(s, sb), default_port);
	snprintf(out->url, sizeof(out->url), "%s://%.*s:%ld", scheme, (int)hlen, host, port);
	if (strcmp(scheme, "https") == 0)
		snprintf(out->shown, sizeof(out->shown), "%s", out->url);
	else
		snprintf(out->shown, sizeof(out->shown), "%.*s:%ld", (int)hlen, host, port);
	return 0;
}

int cl_address_from_config(const cfg *c, cl_address *out, cm_err *err)
{
	const char *host = NULL;
	const char *key = CFG_REST_ADDRESS;
	if (cfg_get_string(c, CFG_REST_ADDRESS, &host) != 0 || !host || !*host) {
		key = CFG_JM_RPC_ADDRESS;
		if (cfg_get_string(c, CFG_JM_RPC_ADDRESS, &host) != 0 || !host || !*host)
			host = "localhost";
	}
	int64_t port = 8081;
	if (cfg_get_int(c, CFG_REST_PORT, &port) != 0 || port == 0)
		return cm_err_set(err, FL_EINVAL,
				  "the JobManager's REST port (" CFG_REST_PORT
				  ") is 0: name the JobManager with -m HOST:PORT");
	cm_err e = {0};
	if (cl_address_parse(host, (int)port, out, &e) != 0)
		return cm_err_set(err, FL_EINVAL, "%s (from %s)", e.msg, key);
	return 0;
}

/* ------------------------------------------------------------ job ids */

bool cl_job_id_valid(const char *s)
{
	if (!s)
		return false;
	for (int i = 0; i < CL_JOB_ID_LEN; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return false;
	}
	return s[CL_JOB_ID_LEN] == '\0';
}

int cl_job_id_refuse(const char *s, cm_err *err)
{
	char sb[SHOWN + 4];
	return cm_err_set(err, FL_EINVAL,
			  "Cannot parse JobID from \"%s\": a job id is 32 hexadecimal digits "
			  "(flinc list shows them)",
			  shown(s ? s : "", sb));
}

/* ---------------------------------------------------------- job files */

/* This machine's ELF class, byte order and machine (0: not checked). */
#define HOST_CLASS (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32)
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_DATA ELFDATA2LSB
#else
#define HOST_DATA ELFDATA2MSB
#endif
#if defined(__x86_64__)
#define HOST_MACHINE EM_X86_64
#elif defined(__i386__)
#define HOST_MACHINE EM_386
#elif defined(__aarch64__)
#define HOST_MACHINE EM_AARCH64
#elif defined(__arm__)
#define HOST_MACHINE EM_ARM
#elif defined(__riscv)
#define HOST_MACHINE EM_RISCV
#elif defined(__powerpc64__) || defined(__powerpc__)
#define HOST_MACHINE (sizeof(void *) == 8 ? EM_PPC64 : EM_PPC)
#elif defined(__s390x__)
#define HOST_MACHINE EM_S390
#else
#define HOST_MACHINE 0
#endif

static const char *machine_name(unsigned m)
{
	switch (m) {
	case EM_X86_64:
		return "x86-64";
	case EM_386:
		return "i386";
	case EM_AARCH64:
		return "AArch64";
	case EM_ARM:
		return "ARM";
	case EM_RISCV:
		return "RISC-V";
	case EM_PPC64:
		return "PowerPC64";
	case EM_PPC:
		return "PowerPC";
	case EM_S390:
		return "S/390";
	default:
		return "another machine";
	}
}

#define BUILD_HINT "build the job with cc -shared -fPIC job.c -o job.so"

/* Whether the dynamic section of an ET_DYN file flags it DF_1_PIE. Bounds
 * are checked against the file; a malformed table answers false (dlopen
 * will then say what it thinks). */
static bool flagged_pie(const unsigned char *f, size_t len, const ElfW(Ehdr) * eh)
{
	if (eh->e_phentsize != sizeof(ElfW(Phdr)) || eh->e_phoff > len ||
	    (size_t)eh->e_phnum > (len - eh->e_phoff) / sizeof(ElfW(Phdr)))
		return false;
	for (size_t i = 0; i < eh->e_phnum; i++) {
		ElfW(Phdr) ph;
		memcpy(&ph, f + eh->e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_DYNAMIC)
			continue;
		if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset)
			return false;
		size_t n = ph.p_filesz / sizeof(ElfW(Dyn));
		for (size_t k = 0; k < n; k++) {
			ElfW(Dyn) d;
			memcpy(&d, f + ph.p_offset + k * sizeof(d), sizeof(d));
			if (d.d_tag == DT_NULL)
				break;
			if (d.d_tag == DT_FLAGS_1 && (d.d_un.d_val & DF_1_PIE))
				return true;
		}
	}
	return false;
}

int cl_elf_check(const unsigned char *f, size_t len, cm_err *err)
{
	if (len < SELFMAG || memcmp(f, ELFMAG, SELFMAG) != 0)
		return cm_err_set(err, FL_EINVAL,
				  "not an ELF file: a job is a shared object (" BUILD_HINT ")");
	if (len < EI_NIDENT)
		return cm_err_set(err, FL_EINVAL, "a truncated ELF file");
	if (f[EI_CLASS] != HOST_CLASS)
		return cm_err_set(err, FL_EINVAL,
				  "a %s ELF object, and this machine loads %d-bit ones",
				  f[EI_CLASS] == ELFCLASS32   ? "32-bit"
				  : f[EI_CLASS] == ELFCLASS64 ? "64-bit"
							      : "malformed",
				  HOST_CLASS == ELFCLASS64 ? 64 : 32);
	if (f[EI_DATA] != HOST_DATA)
		return cm_err_set(err, FL_EINVAL, "a %s ELF object, and this machine is %s",
				  f[EI_DATA] == ELFDATA2MSB   ? "big-endian"
				  : f[EI_DATA] == ELFDATA2LSB ? "little-endian"
							      : "malformed",
				  HOST_DATA == ELFDATA2LSB ? "little-endian" : "big-endian");
	ElfW(Ehdr) eh;
	if (len < sizeof(eh))
		return cm_err_set(err, FL_EINVAL, "a truncated ELF file");
	memcpy(&eh, f, sizeof(eh));
	if (HOST_MACHINE != 0 && eh.e_machine != HOST_MACHINE)
		return cm_err_set(err, FL_EINVAL,
				  "built for %s (ELF machine %u), and this machine is %s (%u)",
				  machine_name(eh.e_machine), (unsigned)eh.e_machine,
				  machine_name(HOST_MACHINE), (unsigned)HOST_MACHINE);
	switch (eh.e_type) {
	case ET_DYN:
		break;
	case ET_EXEC:
		return cm_err_set(err, FL_EINVAL,
				  "an executable, not a shared object (" BUILD_HINT ")");
	case ET_REL:
		return cm_err_set(err, FL_EINVAL,
				  "an object file (.o), not a shared object (" BUILD_HINT ")");
	case ET_CORE:
		return cm_err_set(err, FL_EINVAL, "a core dump, not a shared object");
	default:
		return cm_err_set(err, FL_EINVAL, "an ELF file of type %u, not a shared object",
				  (unsigned)eh.e_type);
	}
	if (flagged_pie(f, len, &eh))
		return cm_err_set(err, FL_EINVAL,
				  "a position-independent executable, not a shared object "
				  "(" BUILD_HINT ")");
	return 0;
}

int cl_job_file_open(const char *path, uint64_t max_size, int *fd_out, uint64_t *size_out,
		     cm_err *err)
{
	char sb[SHOWN + 4];
	/* O_NONBLOCK: a FIFO named as the job must not hang the open. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		return cm_err_set(err, cm_err_from_errno(e), "cannot read job '%s': %s",
				  shown(path, sb), strerror(e));
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return cm_err_set(err, cm_err_from_errno(e), "cannot read job '%s': %s",
				  shown(path, sb), strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return cm_err_set(err, FL_EINVAL, "job '%s' is %s, not a shared object",
				  shown(path, sb),
				  S_ISDIR(st.st_mode) ? "a directory" : "not a regular file");
	}
	if (max_size && (uint64_t)st.st_size > max_size) {
		close(fd);
		return cm_err_set(
		    err, FL_ERANGE, "job '%s' is %llu bytes, more than the %llu that can be sent",
		    shown(path, sb), (unsigned long long)st.st_size, (unsigned long long)max_size);
	}
	int rc = 0;
	cm_err e = {0};
	if (st.st_size == 0) {
		rc = cm_err_set(&e, FL_EINVAL, "an empty file, not a shared object");
	} else if ((uint64_t)st.st_size > SIZE_MAX) {
		rc = cm_err_set(&e, FL_EINVAL, "too large to be a shared object");
	} else {
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED) {
			int en = errno;
			close(fd);
			return cm_err_set(err, cm_err_from_errno(en), "cannot read job '%s': %s",
					  shown(path, sb), strerror(en));
		}
		rc = cl_elf_check(m, (size_t)st.st_size, &e);
		munmap(m, (size_t)st.st_size);
	}
	if (rc != 0) {
		close(fd);
		return cm_err_set(err, rc, "job '%s' is %s", shown(path, sb), e.msg);
	}
	/* Back to blocking reads for the upload. */
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	*fd_out = fd;
	*size_out = (uint64_t)st.st_size;
	return 0;
}

/* ------------------------------------------------------------ replies */

/* The reply as a JSON object, or NULL with err set. */
static cJSON *parse_object(const char *body, size_t len, cm_err *err)
{
	cJSON *j = body ? cJSON_ParseWithLength(body, len) : NULL;
	if (!j) {
		char sb[SHOWN + 4];
		char head[SHOWN + 1];
		cl_clean(head, sizeof(head), body ? body : "", body ? strnlen(body, len) : 0,
			 false);
		cm_err_set(err, FL_EPROTO, "the reply is not JSON: '%s'", shown(head, sb));
		return NULL;
	}
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		cm_err_set(err, FL_EPROTO, "the reply is not a JSON object");
		return NULL;
	}
	return j;
}

/* The string member key of o, or NULL. */
static const char *str_member(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The integral member key of o, or def when absent or not a number. */
static int64_t int_member(const cJSON *o, const char *key, int64_t def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsNumber(v))
		return def;
	double d = v->valuedouble;
	if (!(d >= -9.0e18 && d <= 9.0e18))
		return def;
	return (int64_t)d;
}

int cl_reply_upload(const char *body, size_t len, char *jar_id, size_t cap, cm_err *err)
{
	cJSON *j = parse_object(body, len, err);
	if (!j)
		return FL_EPROTO;
	int rc = 0;
	char sb[SHOWN + 4];
	const char *status = str_member(j, "status");
	const char *file = str_member(j, "filename");
	if (cJSON_GetObjectItemCaseSensitive(j, "status") && (!status || strcmp(status, "success")))
		rc = cm_err_set(err, FL_EPROTO, "the upload's status is '%s', not 'success'",
				shown(status ? status : "(not a string)", sb));
	else if (!file || !*file)
		rc = cm_err_set(err, FL_EPROTO, "the reply has no \"filename\"");
	if (rc == 0) {
		const char *base = strrchr(file, '/');
		base = base ? base + 1 : file;
		size_t n = strlen(base);
		bool ctl = false;
		for (const char *q = base; *q; q++)
			ctl |= (unsigned char)*q < 0x20 || *q == 0x7f;
		if (n == 0 || strcmp(base, ".") == 0 || strcmp(base, "..") == 0 || ctl)
			rc =
			    cm_err_set(err, FL_EPROTO, "the uploaded file's name '%s' is no jar id",
				       shown(file, sb));
		else if (n >= cap)
			rc = cm_err_set(err, FL_EPROTO, "the jar id '%s' is longer than %zu bytes",
					shown(base, sb), cap - 1);
		else
			memcpy(jar_id, base, n + 1);
	}
	cJSON_Delete(j);
	return rc;
}

int cl_reply_run(const char *body, size_t len, char job_id[CL_JOB_ID_LEN + 1], cm_err *err)
{
	cJSON *j = parse_object(body, len, err);
	if (!j)
		return FL_EPROTO;
	int rc = 0;
	char sb[SHOWN + 4];
	const char *id = str_member(j, "jobid");
	if (!id)
		rc = cm_err_set(err, FL_EPROTO, "the reply has no \"jobid\"");
	else if (!cl_job_id_valid(id))
		rc = cm_err_set(err, FL_EPROTO,
				"the reply's jobid '%s' is not 32 hexadecimal digits",
				shown(id, sb));
	else
		memcpy(job_id, id, CL_JOB_ID_LEN + 1);
	cJSON_Delete(j);
	return rc;
}

size_t cl_reply_errors(const char *body, size_t len, char *out, size_t cap)
{
	if (cap == 0)
		return 0;
	out[0] = '\0';
	cJSON *j = body ? cJSON_ParseWithLength(body, len) : NULL;
	const cJSON *errors =
	    cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "errors") : NULL;
	size_t count = 0, used = 0;
	bool cut = false;
	const cJSON *list = cJSON_IsArray(errors) ? errors : NULL;
	const cJSON *e;
	cJSON_ArrayForEach(e, list)
	{
		if (!cJSON_IsString(e))
			continue;
		count++;
		if (cut)
			continue;
		/* Each error on its own line; "..." when the rest does not fit. */
		size_t elen = strlen(e->valuestring), sep = used ? 1 : 0;
		if (used + sep + elen + 1 <= cap) {
			if (sep)
				out[used++] = '\n';
			cl_clean(out + used, cap - used, e->valuestring, elen, true);
			used += strlen(out + used);
			continue;
		}
		cut = true;
		if (used + sep + 4 < cap) {
			if (sep)
				out[used++] = '\n';
			cl_clean(out + used, cap - used - 3, e->valuestring, elen, true);
			used += strlen(out + used);
		}
	}
	if (cut && used + 4 <= cap)
		memcpy(out + used, "...", 4);
	cJSON_Delete(j);
	return count;
}

bool cl_reply_is_json(const char *body, size_t len)
{
	cJSON *j = body ? cJSON_ParseWithLength(body, len) : NULL;
	cJSON_Delete(j);
	return j != NULL;
}

/* Reads the fields a job has in /jobs/overview and /jobs/<jobid>. */
static int read_job(const cJSON *o, cl_job *out, cm_err *err)
{
	char sb[SHOWN + 4];
	memset(out, 0, sizeof(*out));
	const char *jid = str_member(o, "jid");
	const char *state = str_member(o, "state");
	if (!jid)
		return cm_err_set(err, FL_EPROTO, "a job has no \"jid\"");
	if (!cl_job_id_valid(jid))
		return cm_err_set(err, FL_EPROTO, "a job's jid '%s' is not 32 hexadecimal digits",
				  shown(jid, sb));
	if (!state)
		return cm_err_set(err, FL_EPROTO, "job %s has no \"state\"", jid);
	memcpy(out->jid, jid, CL_JOB_ID_LEN + 1);
	cl_clean(out->state, sizeof(out->state), state, strlen(state), false);
	const char *name = str_member(o, "name");
	cl_clean(out->name, sizeof(out->name), name ? name : "", name ? strlen(name) : 0, false);
	out->start_time = int_member(o, "start-time", -1);
	out->end_time = int_member(o, "end-time", -1);
	out->duration = int_member(o, "duration", -1);
	return 0;
}

/* Whether vertex id feeds some node of the plan. */
static bool is_input(const cJSON *nodes, const char *id)
{
	const cJSON *n;
	cJSON_ArrayForEach(n, nodes)
	{
		const cJSON *in;
		cJSON_ArrayForEach(in, cJSON_GetObjectItemCaseSensitive(n, "inputs"))
		{
			const char *iid = str_member(in, "id");
			if (iid && strcmp(iid, id) == 0)
				return true;
		}
	}
	return false;
}

/* The plan's node of vertex id, or NULL. */
static const cJSON *plan_node(const cJSON *nodes, const char *id)
{
	const cJSON *n;
	cJSON_ArrayForEach(n, nodes)
	{
		const char *nid = str_member(n, "id");
		if (nid && strcmp(nid, id) == 0)
			return n;
	}
	return NULL;
}

int cl_reply_job(const char *body, size_t len, cl_job *out, cm_err *err)
{
	memset(out, 0, sizeof(*out));
	cJSON *j = parse_object(body, len, err);
	if (!j)
		return FL_EPROTO;
	int rc = read_job(j, out, err);
	if (rc != 0)
		goto done;
	const cJSON *vs = cJSON_GetObjectItemCaseSensitive(j, "vertices");
	const cJSON *plan = cJSON_GetObjectItemCaseSensitive(j, "plan");
	const cJSON *nodes =
	    cJSON_IsObject(plan) ? cJSON_GetObjectItemCaseSensitive(plan, "nodes") : NULL;
	if (!cJSON_IsArray(nodes))
		nodes = NULL;
	int nv = cJSON_IsArray(vs) ? cJSON_GetArraySize(vs) : 0;
	size_t cap = nv > CL_MAX_VERTICES ? CL_MAX_VERTICES : (size_t)nv;
	if (cap == 0)
		goto done;
	out->vertices = calloc(cap, sizeof(cl_vertex));
	if (!out->vertices) {
		rc = cm_err_set(err, FL_ENOMEM, "out of memory reading a job's %zu vertices", cap);
		goto done;
	}
	out->has_plan = nodes != NULL;
	const cJSON *v;
	cJSON_ArrayForEach(v, vs)
	{
		if (out->nvertices == cap)
			break;
		if (!cJSON_IsObject(v))
			continue;
		cl_vertex *x = &out->vertices[out->nvertices++];
		const char *name = str_member(v, "name");
		cl_clean(x->name, sizeof(x->name), name ? name : "?", name ? strlen(name) : 1,
			 false);
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(v, "metrics");
		x->read = cJSON_IsObject(m) ? int_member(m, "read-records", -1) : -1;
		x->write = cJSON_IsObject(m) ? int_member(m, "write-records", -1) : -1;
		const char *id = str_member(v, "id");
		if (nodes && id) {
			const cJSON *n = plan_node(nodes, id);
			const cJSON *ins = n ? cJSON_GetObjectItemCaseSensitive(n, "inputs") : NULL;
			x->source = n && (!cJSON_IsArray(ins) || cJSON_GetArraySize(ins) == 0);
			x->sink = n && !is_input(nodes, id);
		}
	}
done:
	cJSON_Delete(j);
	if (rc != 0)
		cl_job_fini(out);
	return rc;
}

void cl_job_fini(cl_job *j)
{
	if (!j)
		return;
	free(j->vertices);
	j->vertices = NULL;
	j->nvertices = 0;
}

int cl_reply_overview(const char *body, size_t len, cl_job_list *out, cm_err *err)
{
	memset(out, 0, sizeof(*out));
	cJSON *j = parse_object(body, len, err);
	if (!j)
		return FL_EPROTO;
	int rc = 0;
	const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(j, "jobs");
	if (!cJSON_IsArray(jobs)) {
		rc = cm_err_set(err, FL_EPROTO, "the reply has no \"jobs\" array");
		goto done;
	}
	int n = cJSON_GetArraySize(jobs);
	size_t cap = n > CL_MAX_JOBS ? CL_MAX_JOBS : (size_t)n;
	if (cap == 0)
		goto done;
	out->jobs = calloc(cap, sizeof(cl_job));
	if (!out->jobs) {
		rc = cm_err_set(err, FL_ENOMEM, "out of memory reading %zu jobs", cap);
		goto done;
	}
	const cJSON *o;
	cJSON_ArrayForEach(o, jobs)
	{
		if (out->njobs == cap)
			break;
		if (!cJSON_IsObject(o)) {
			rc = cm_err_set(err, FL_EPROTO, "job %zu of \"jobs\" is not an object",
					out->njobs + 1);
			break;
		}
		if ((rc = read_job(o, &out->jobs[out->njobs], err)) != 0)
			break;
		out->njobs++;
	}
done:
	cJSON_Delete(j);
	if (rc != 0)
		cl_job_list_fini(out);
	return rc;
}

void cl_job_list_fini(cl_job_list *l)
{
	if (!l)
		return;
	free(l->jobs);
	l->jobs = NULL;
	l->njobs = 0;
}

int cl_reply_exception(const char *body, size_t len, char *out, size_t cap)
{
	if (cap == 0)
		return FL_ENOENT;
	out[0] = '\0';
	cJSON *j = body ? cJSON_ParseWithLength(body, len) : NULL;
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return FL_ENOENT;
	}
	const char *text = str_member(j, "root-exception");
	if (!text || !*text) {
		const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "exceptionHistory");
		const cJSON *entries =
		    cJSON_IsObject(h) ? cJSON_GetObjectItemCaseSensitive(h, "entries") : NULL;
		const cJSON *first = cJSON_IsArray(entries) ? cJSON_GetArrayItem(entries, 0) : NULL;
		if (cJSON_IsObject(first)) {
			text = str_member(first, "stacktrace");
			if (!text || !*text)
				text = str_member(first, "exceptionName");
		}
	}
	int rc = FL_ENOENT;
	if (text && *text) {
		/* A trailing newline (Java's printStackTrace) is no line of its own. */
		size_t n = strlen(text);
		while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
			n--;
		cl_clean(out, cap, text, n, true);
		rc = 0;
	}
	cJSON_Delete(j);
	return rc;
}

/* ---------------------------------------------------------- job states */

enum cl_state_class cl_state_class(const char *state)
{
	if (strcmp(state, "CREATED") == 0 || strcmp(state, "INITIALIZING") == 0)
		return CL_STATE_SCHEDULED;
	if (strcmp(state, "FINISHED") == 0 || strcmp(state, "FAILED") == 0 ||
	    strcmp(state, "CANCELED") == 0)
		return CL_STATE_TERMINAL;
	return CL_STATE_RUNNING;
}

/* ------------------------------------------------------------- output */

/* By start time, then state name (Flink sorts groups by state name, then
 * the whole by start time, stably), then id for a fixed order. */
static int by_start(const void *a, const void *b)
{
	const cl_job *x = a, *y = b;
	if (x->start_time != y->start_time)
		return x->start_time < y->start_time ? -1 : 1;
	int c = strcasecmp(x->state, y->state);
	return c ? c : strcmp(x->jid, y->jid);
}

static void print_section(FILE *out, const cl_job_list *l, enum cl_state_class cls,
			  const char *title)
{
	fprintf(out, "%s\n", title);
	for (size_t i = 0; i < l->njobs; i++) {
		const cl_job *j = &l->jobs[i];
		if (cl_state_class(j->state) != cls)
			continue;
		char when[32] = "unknown start time";
		time_t t = (time_t)(j->start_time / 1000);
		struct tm tm;
		if (j->start_time >= 0 && localtime_r(&t, &tm))
			strftime(when, sizeof(when), "%d.%m.%Y %H:%M:%S", &tm);
		fprintf(out, "%s : %s : %s (%s)\n", when, j->jid, j->name, j->state);
	}
	fprintf(out, "--------------------------------------------------------------\n");
}

void cl_list_print(FILE *out, cl_job_list *l, unsigned sections)
{
	if (l->njobs > 1)
		qsort(l->jobs, l->njobs, sizeof(cl_job), by_start);
	size_t count[3] = {0};
	for (size_t i = 0; i < l->njobs; i++)
		count[cl_state_class(l->jobs[i].state)]++;
	if (sections & CL_LIST_RUNNING) {
		if (count[CL_STATE_RUNNING] == 0)
			fprintf(out, "No running jobs.\n");
		else
			print_section(
			    out, l, CL_STATE_RUNNING,
			    "------------------ Running/Restarting Jobs -------------------");
	}
	if (sections & CL_LIST_SCHEDULED) {
		if (count[CL_STATE_SCHEDULED] == 0)
			fprintf(out, "No scheduled jobs.\n");
		else
			print_section(
			    out, l, CL_STATE_SCHEDULED,
			    "----------------------- Scheduled Jobs -----------------------");
	}
	if ((sections & CL_LIST_TERMINATED) && count[CL_STATE_TERMINAL] > 0)
		print_section(out, l, CL_STATE_TERMINAL,
			      "---------------------- Terminated Jobs -----------------------");
}

void cl_human(uint64_t v, char *buf, size_t cap)
{
	if (v >= 1000000000ull)
		snprintf(buf, cap, "%.1fG", (double)v / 1e9);
	else if (v >= 1000000ull)
		snprintf(buf, cap, "%.1fM", (double)v / 1e6);
	else if (v >= 10000ull)
		snprintf(buf, cap, "%.1fK", (double)v / 1e3);
	else
		snprintf(buf, cap, "%llu", (unsigned long long)v);
}

void cl_progress_line(const cl_job *j, char *line, size_t cap)
{
	if (cap == 0)
		return;
	int64_t ms = j->duration > 0 ? j->duration : 0;
	size_t len = (size_t)snprintf(line, cap, "[%6.1fs]", (double)ms / 1000.0);
	for (size_t i = 0; i < j->nvertices && len < cap; i++) {
		const cl_vertex *v = &j->vertices[i];
		char a[32], b[32];
		cl_human(v->read > 0 ? (uint64_t)v->read : 0, a, sizeof(a));
		cl_human(v->write > 0 ? (uint64_t)v->write : 0, b, sizeof(b));
		if (j->has_plan && v->source && !v->sink)
			len += (size_t)snprintf(line + len, cap - len, " %s out=%s |", v->name, b);
		else if (j->has_plan && v->sink && !v->source)
			len += (size_t)snprintf(line + len, cap - len, " %s in=%s |", v->name, a);
		else
			len += (size_t)snprintf(line + len, cap - len, " %s in=%s out=%s |",
						v->name, a, b);
	}
	if (len >= cap)
		len = cap - 1;
	if (len > 0 && line[len - 1] == '|')
		len--;
	if (len > 0 && line[len - 1] == ' ')
		len--;
	line[len] = '\0';
}

int cl_run_body(char *const *args, size_t nargs, int parallelism, const char *const *conf,
		size_t nconf, const cl_restore *restore, char **out, cm_err *err)
{
	*out = NULL;
	int rc = FL_ENOMEM;
	cJSON *b = cJSON_CreateObject();
	cJSON *list = b ? cJSON_AddArrayToObject(b, "programArgsList") : NULL;
	if (!list)
		goto oom;
	for (size_t i = 0; i < nargs; i++) {
		cJSON *s = cJSON_CreateString(args[i]);
		if (!s || !cJSON_AddItemToArray(list, s)) {
			cJSON_Delete(s);
			goto oom;
		}
	}
	if (parallelism > 0 && !cJSON_AddNumberToObject(b, "parallelism", parallelism))
		goto oom;
	if (nconf > 0) {
		cJSON *fc = cJSON_AddObjectToObject(b, "flinkConfiguration");
		if (!fc)
			goto oom;
		for (size_t i = 0; i < nconf; i++) {
			const char *eq = strchr(conf[i], '=');
			if (!eq || eq == conf[i]) {
				cJSON_Delete(b);
				return cm_err_set(err, FL_EINVAL,
						  "invalid -D argument: expected key=value");
			}
			size_t kl = (size_t)(eq - conf[i]);
			char *key = strndup(conf[i], kl);
			cJSON *v = key ? cJSON_CreateString(eq + 1) : NULL;
			/* A key given twice: the last wins, as in the configuration. */
			if (key)
				cJSON_DeleteItemFromObjectCaseSensitive(fc, key);
			bool ok = v && cJSON_AddItemToObject(fc, key, v);
			free(key);
			if (!ok) {
				cJSON_Delete(v);
				goto oom;
			}
		}
	}
	if (restore && restore->path && !cJSON_AddStringToObject(b, "savepointPath", restore->path))
		goto oom;
	if (restore && restore->allow_non_restored &&
	    !cJSON_AddBoolToObject(b, "allowNonRestoredState", true))
		goto oom;
	if (restore && restore->mode && !cJSON_AddStringToObject(b, "restoreMode", restore->mode))
		goto oom;
	*out = cJSON_PrintUnformatted(b);
	if (!*out)
		goto oom;
	cJSON_Delete(b);
	return 0;
oom:
	cJSON_Delete(b);
	return cm_err_set(err, rc, "out of memory building the run request");
}

/* The text of b, which is deleted; 0 or FL_ENOMEM. */
static int print_body(cJSON *b, bool ok, char **out, cm_err *err)
{
	*out = ok && b ? cJSON_PrintUnformatted(b) : NULL;
	cJSON_Delete(b);
	return *out ? 0 : cm_err_set(err, FL_ENOMEM, "out of memory building the request");
}

int cl_savepoint_body(const char *target, char **out, cm_err *err)
{
	cJSON *b = cJSON_CreateObject();
	bool ok = b && (!target || cJSON_AddStringToObject(b, "target-directory", target)) &&
		  cJSON_AddBoolToObject(b, "cancel-job", false);
	return print_body(b, ok, out, err);
}

int cl_stop_body(const char *target, bool drain, char **out, cm_err *err)
{
	cJSON *b = cJSON_CreateObject();
	bool ok = b && (!target || cJSON_AddStringToObject(b, "targetDirectory", target)) &&
		  cJSON_AddBoolToObject(b, "drain", drain);
	return print_body(b, ok, out, err);
}

int cl_dispose_body(const char *path, char **out, cm_err *err)
{
	cJSON *b = cJSON_CreateObject();
	bool ok = b && cJSON_AddStringToObject(b, "savepoint-path", path);
	return print_body(b, ok, out, err);
}

int cl_reply_trigger(const char *body, size_t len, char id[CL_JOB_ID_LEN + 1], cm_err *err)
{
	cJSON *j = parse_object(body, len, err);
	if (!j)
		return FL_EPROTO;
	int rc = 0;
	char sb[SHOWN + 4];
	const char *rid = str_member(j, "request-id");
	if (!rid)
		rc = cm_err_set(err, FL_EPROTO, "the reply has no \"request-id\"");
	else if (!cl_job_id_valid(rid))
		rc = cm_err_set(err, FL_EPROTO,
				"the reply's request-id '%s' is not 32 hexadecimal digits",
				shown(rid, sb));
	else
		memcpy(id, rid, CL_JOB_ID_LEN + 1);
	cJSON_Delete(j);
	return rc;
}

/* A completed operation's outcome into out. Returns 0 or FL_EPROTO. */
static int read_outcome(const cJSON *op, cl_operation *out, cm_err *err)
{
	if (op && !cJSON_IsObject(op))
		return cm_err_set(err, FL_EPROTO, "the reply's \"operation\" is not an object");
	const cJSON *cause = cJSON_GetObjectItemCaseSensitive(op, "failure-cause");
	out->done = true;
	if (cause && !cJSON_IsNull(cause)) {
		out->failed = true;
		const char *t = str_member(cause, "stack-trace");
		if (!t || !*t)
			t = str_member(cause, "class");
		if (!t || !*t)
			t = "the JobManager gave no cause";
		cl_clean(out->text, sizeof(out->text), t, strlen(t), true);
		return 0;
	}
	const char *loc = str_member(op, "location");
	if (loc)
		cl_clean(out->text, sizeof(out->text), loc, strlen(loc), false);
	return 0;
}

int cl_reply_operation(const char *body, size_t len, cl_operation *out, cm_err *err)
{
	memset(out, 0, sizeof(*out));
	cJSON *j = parse_object(body, len, err);
	if (!j)
		return FL_EPROTO;
	int rc = 0;
	char sb[SHOWN + 4];
	const char *id = str_member(cJSON_GetObjectItemCaseSensitive(j, "status"), "id");
	if (!id)
		rc = cm_err_set(err, FL_EPROTO, "the reply has no \"status\": {\"id\"}");
	else if (strcmp(id, "COMPLETED") == 0)
		rc = read_outcome(cJSON_GetObjectItemCaseSensitive(j, "operation"), out, err);
	else if (strcmp(id, "IN_PROGRESS") != 0)
		rc = cm_err_set(err, FL_EPROTO,
				"the operation's status '%s' is neither IN_PROGRESS nor COMPLETED",
				shown(id, sb));
	cJSON_Delete(j);
	return rc;
}
