/*
 * test_client_remote.c — what the session-cluster client does without a
 * JobManager (client/remote.h): JobManager addresses (-m and the
 * configuration), job ids, the check that a job file is a shared object for
 * this machine, Flink's REST replies (good, malformed, hostile), and the
 * lines printed from them (`flinc list`, progress, the run request).
 */
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/remote.h"
#include "config/config.h"

#define S(text) text, strlen(text)

/* ------------------------------------------------------------ address */

static void test_address_forms(void **state)
{
	cl_address a;
	cm_err err = {0};
	assert_int_equal(cl_address_parse("jm.example:9091", 8081, &a, &err), 0);
	assert_string_equal(a.url, "http://jm.example:9091");
	assert_string_equal(a.shown, "jm.example:9091");
	assert_int_equal(cl_address_parse("127.0.0.1", 8081, &a, &err), 0);
	assert_string_equal(a.url, "http://127.0.0.1:8081");
	assert_int_equal(cl_address_parse("http://jm_1:80/", 8081, &a, &err), 0);
	assert_string_equal(a.url, "http://jm_1:80");
	assert_string_equal(a.shown, "jm_1:80");
	assert_int_equal(cl_address_parse("http://localhost", 8082, &a, &err), 0);
	assert_string_equal(a.url, "http://localhost:8082");
	assert_int_equal(cl_address_parse("https://jm:443", 8081, &a, &err), 0);
	assert_string_equal(a.url, "https://jm:443");
	assert_string_equal(a.shown, "https://jm:443");
	assert_int_equal(cl_address_parse("[::1]:8081", 1, &a, &err), 0);
	assert_string_equal(a.url, "http://[::1]:8081");
	assert_string_equal(a.shown, "[::1]:8081");
	assert_int_equal(cl_address_parse("http://[fe80::1]", 81, &a, &err), 0);
	assert_string_equal(a.url, "http://[fe80::1]:81");
}

static void test_address_refusals_name_the_problem(void **state)
{
	cl_address a;
	struct {
		const char *in, *msg;
	} cases[] = {
	    {"", "the JobManager address is empty: expected HOST:PORT"},
	    {"jm:0", "JobManager address 'jm:0': the port must be a number between 1 and 65535"},
	    {"jm:65536", "JobManager address 'jm:65536': the port must be a number between 1 and "
			 "65535"},
	    {"jm:99999999999999999999", "JobManager address 'jm:99999999999999999999': the port "
					"must be a number between 1 and 65535"},
	    {"jm:", "JobManager address 'jm:': the port must be a number between 1 and 65535"},
	    {"jm:80x", "JobManager address 'jm:80x': unexpected 'x' after the port: expected "
		       "HOST:PORT or http://HOST:PORT"},
	    {"jm:80/jobs", "JobManager address 'jm:80/jobs': unexpected '/jobs' after the port: "
			   "expected HOST:PORT or http://HOST:PORT"},
	    {"http://jm:80/x", "JobManager address 'http://jm:80/x': unexpected 'x' after the "
			       "port: expected HOST:PORT or http://HOST:PORT"},
	    {"jm one:80", "JobManager address 'jm one:80': unexpected ' one:80' after the host: "
			  "expected HOST:PORT or http://HOST:PORT"},
	    {":8081", "JobManager address ':8081': no host: expected HOST:PORT"},
	    {"ftp://jm:21", "JobManager address 'ftp://jm:21': only http:// and https:// URLs "
			    "are supported"},
	    {"[::1", "JobManager address '[::1': an IPv6 address needs its ']'"},
	    {"[xyz]:1", "JobManager address '[xyz]:1': 'xyz' is not an IPv6 address"},
	    {"jm", "JobManager address 'jm': no port (and the configured port 0 cannot be used)"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cm_err err = {0};
		assert_int_equal(cl_address_parse(cases[i].in, 0, &a, &err), FL_EINVAL);
		assert_string_equal(err.msg, cases[i].msg);
	}
	/* A huge or hostile address is cut and cleaned in the message. */
	char big[1000];
	memset(big, 'h', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cm_err err = {0};
	assert_int_equal(cl_address_parse(big, 1, &a, &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "the host is longer than 253 bytes"));
	assert_true(strlen(err.msg) < 200);
	cm_err_clear(&err);
	assert_int_equal(cl_address_parse("jm:1\x1b[2J", 1, &a, &err), FL_EINVAL);
	assert_null(strchr(err.msg, '\x1b'));
}

static void test_address_from_configuration(void **state)
{
	cfg *c;
	cm_err err = {0};
	cl_address a;
	assert_int_equal(cfg_new(&c), 0);
	/* Defaults: rest.address empty, so jobmanager.rpc.address (localhost). */
	assert_int_equal(cl_address_from_config(c, &a, &err), 0);
	assert_string_equal(a.url, "http://localhost:8081");
	assert_int_equal(cfg_set(c, CFG_JM_RPC_ADDRESS, "jm-rpc", &err), 0);
	assert_int_equal(cfg_set(c, CFG_REST_PORT, "9000", &err), 0);
	assert_int_equal(cl_address_from_config(c, &a, &err), 0);
	assert_string_equal(a.shown, "jm-rpc:9000");
	assert_int_equal(cfg_set(c, CFG_REST_ADDRESS, "rest-host", &err), 0);
	assert_int_equal(cl_address_from_config(c, &a, &err), 0);
	assert_string_equal(a.shown, "rest-host:9000");
	assert_int_equal(cfg_set(c, CFG_REST_ADDRESS, "bad host", &err), 0);
	assert_int_equal(cl_address_from_config(c, &a, &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "(from rest.address)"));
	cm_err_clear(&err);
	assert_int_equal(cfg_set(c, CFG_REST_ADDRESS, "ok", &err), 0);
	assert_int_equal(cfg_set(c, CFG_REST_PORT, "0", &err), 0);
	assert_int_equal(cl_address_from_config(c, &a, &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "rest.port"));
	cfg_free(c);
}

static void test_client_timeout_key(void **state)
{
	cfg *c;
	cm_err err = {0};
	int64_t ms = 0;
	assert_int_equal(cfg_new(&c), 0);
	assert_int_equal(cfg_get_duration_ms(c, CFG_CLIENT_TIMEOUT, &ms), 0);
	assert_int_equal(ms, 60000);
	assert_int_equal(cfg_set(c, CFG_CLIENT_TIMEOUT, "2 s", &err), 0);
	assert_int_equal(cfg_get_duration_ms(c, CFG_CLIENT_TIMEOUT, &ms), 0);
	assert_int_equal(ms, 2000);
	/* 0 would be "no timeout" to libcurl. */
	assert_int_equal(cfg_set(c, CFG_CLIENT_TIMEOUT, "0", &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "client.timeout"));
	cfg_free(c);
}

/* ------------------------------------------------------------ job ids */

static void test_job_ids(void **state)
{
	assert_true(cl_job_id_valid("0123456789abcdef0123456789ABCDEF"));
	assert_false(cl_job_id_valid(NULL));
	assert_false(cl_job_id_valid(""));
	assert_false(cl_job_id_valid("0123456789abcdef0123456789abcde"));
	assert_false(cl_job_id_valid("0123456789abcdef0123456789abcdef0"));
	assert_false(cl_job_id_valid("0123456789abcdef0123456789abcdeg"));
	assert_false(cl_job_id_valid("0123456789abcdef 123456789abcdef"));
	cm_err err = {0};
	assert_int_equal(cl_job_id_refuse("nope\n", &err), FL_EINVAL);
	assert_string_equal(err.msg, "Cannot parse JobID from \"nope?\": a job id is 32 "
				     "hexadecimal digits (flinc list shows them)");
}

/* ---------------------------------------------------------- job files */

/* A minimal ELF file of this machine: header, one PT_DYNAMIC program
 * header and a dynamic section with flags1. */
struct fake_elf {
	ElfW(Ehdr) eh;
	ElfW(Phdr) ph;
	ElfW(Dyn) dyn[2];
};

static struct fake_elf fake(uint16_t type, ElfW(Xword) flags1)
{
	struct fake_elf f;
	memset(&f, 0, sizeof(f));
	memcpy(f.eh.e_ident, ELFMAG, SELFMAG);
	f.eh.e_ident[EI_CLASS] = sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32;
	f.eh.e_ident[EI_DATA] =
	    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB;
	f.eh.e_ident[EI_VERSION] = EV_CURRENT;
	f.eh.e_type = type;
	/* This machine's, read from this very test executable. */
	int fd = open("/proc/self/exe", O_RDONLY);
	assert_true(fd >= 0);
	ElfW(Ehdr) self;
	assert_int_equal(read(fd, &self, sizeof(self)), (ssize_t)sizeof(self));
	close(fd);
	f.eh.e_machine = self.e_machine;
	f.eh.e_phoff = offsetof(struct fake_elf, ph);
	f.eh.e_phentsize = sizeof(ElfW(Phdr));
	f.eh.e_phnum = 1;
	f.ph.p_type = PT_DYNAMIC;
	f.ph.p_offset = offsetof(struct fake_elf, dyn);
	f.ph.p_filesz = sizeof(f.dyn);
	f.dyn[0].d_tag = DT_FLAGS_1;
	f.dyn[0].d_un.d_val = flags1;
	f.dyn[1].d_tag = DT_NULL;
	return f;
}

static void expect_elf(const void *f, size_t len, const char *msg)
{
	cm_err err = {0};
	if (!msg) {
		assert_int_equal(cl_elf_check(f, len, &err), 0);
		return;
	}
	assert_int_equal(cl_elf_check(f, len, &err), FL_EINVAL);
	if (!strstr(err.msg, msg))
		fail_msg("'%s' does not contain '%s'", err.msg, msg);
}

static void test_elf_check_accepts_a_shared_object(void **state)
{
	struct fake_elf f = fake(ET_DYN, 0);
	expect_elf(&f, sizeof(f), NULL);
	/* No dynamic section at all: still a shared object. */
	f.eh.e_phnum = 0;
	expect_elf(&f, sizeof(f), NULL);
}

static void test_elf_check_refuses_what_is_no_shared_object(void **state)
{
	expect_elf("root:x:0:0:root:/root:/bin/bash\n", 32,
		   "not an ELF file: a job is a shared object");
	expect_elf("", 0, "not an ELF file");
	expect_elf("\x7f"
		   "ELF",
		   4, "a truncated ELF file");
	struct fake_elf f = fake(ET_EXEC, 0);
	expect_elf(&f, sizeof(f), "an executable, not a shared object");
	f = fake(ET_REL, 0);
	expect_elf(&f, sizeof(f), "an object file (.o), not a shared object");
	f = fake(ET_CORE, 0);
	expect_elf(&f, sizeof(f), "a core dump");
	f = fake(ET_DYN, DF_1_PIE | DF_1_NOW);
	expect_elf(&f, sizeof(f), "a position-independent executable, not a shared object");
	f = fake(ET_DYN, 0);
	f.eh.e_ident[EI_CLASS] = sizeof(void *) == 8 ? ELFCLASS32 : ELFCLASS64;
	expect_elf(&f, sizeof(f),
		   sizeof(void *) == 8 ? "a 32-bit ELF object, and this machine loads 64-bit ones"
				       : "64-bit");
	f = fake(ET_DYN, 0);
	f.eh.e_ident[EI_DATA] = f.eh.e_ident[EI_DATA] == ELFDATA2LSB ? ELFDATA2MSB : ELFDATA2LSB;
	expect_elf(&f, sizeof(f), "-endian ELF object, and this machine is");
	f = fake(ET_DYN, 0);
	f.eh.e_machine = f.eh.e_machine == EM_AARCH64 ? EM_X86_64 : EM_AARCH64;
	expect_elf(&f, sizeof(f), "built for");
	/* Truncated after the identification. */
	f = fake(ET_DYN, 0);
	expect_elf(&f, EI_NIDENT + 2, "a truncated ELF file");
}

static void test_elf_check_survives_lying_tables(void **state)
{
	/* Program headers and the dynamic section pointing out of the file:
	 * no read outside it (ASan watches), and no PIE verdict from them. */
	struct fake_elf f = fake(ET_DYN, DF_1_PIE);
	f.eh.e_phoff = (ElfW(Off)) - 8;
	expect_elf(&f, sizeof(f), NULL);
	f = fake(ET_DYN, DF_1_PIE);
	f.eh.e_phnum = 0xffff;
	expect_elf(&f, sizeof(f), NULL);
	f = fake(ET_DYN, DF_1_PIE);
	f.ph.p_filesz = 1 << 20;
	expect_elf(&f, sizeof(f), NULL);
	f = fake(ET_DYN, DF_1_PIE);
	f.ph.p_offset = (ElfW(Off)) - 1;
	expect_elf(&f, sizeof(f), NULL);
	f = fake(ET_DYN, DF_1_PIE);
	f.eh.e_phentsize = 3;
	expect_elf(&f, sizeof(f), NULL);
}

static char *temp_file(const void *data, size_t len)
{
	char *path = strdup("/tmp/flinc-test-remote-XXXXXX");
	assert_non_null(path);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

static void test_job_file_open(void **state)
{
	int fd = -1;
	uint64_t size = 0;
	cm_err err = {0};
	/* A real shared object: the cmocka library this test links. */
	Dl_info info;
	assert_true(dladdr((void *)_cmocka_run_group_tests, &info) != 0);
	assert_int_equal(cl_job_file_open(info.dli_fname, 0, &fd, &size, &err), 0);
	assert_true(fd >= 0);
	assert_true(size > 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal((uint64_t)st.st_size, size);
	close(fd);
	/* Too large for the given limit. */
	cm_err_clear(&err);
	assert_int_equal(cl_job_file_open(info.dli_fname, 16, &fd, &size, &err), FL_ERANGE);
	assert_non_null(strstr(err.msg, "more than the 16 that can be sent"));

	cm_err_clear(&err);
	char *text = temp_file("root:x:0:0\n", 11);
	assert_int_equal(cl_job_file_open(text, 0, &fd, &size, &err), FL_EINVAL);
	char want[256];
	snprintf(want, sizeof(want), "job '%s' is not an ELF file", text);
	assert_non_null(strstr(err.msg, want));
	unlink(text);
	free(text);

	cm_err_clear(&err);
	char *empty = temp_file("", 0);
	assert_int_equal(cl_job_file_open(empty, 0, &fd, &size, &err), FL_EINVAL);
	assert_non_null(strstr(err.msg, "is an empty file, not a shared object"));
	unlink(empty);
	free(empty);

	cm_err_clear(&err);
	assert_int_equal(cl_job_file_open("/no/such/job.so", 0, &fd, &size, &err), FL_ENOENT);
	assert_string_equal(err.msg,
			    "cannot read job '/no/such/job.so': No such file or directory");
	cm_err_clear(&err);
	assert_int_equal(cl_job_file_open("/tmp", 0, &fd, &size, &err), FL_EINVAL);
	assert_string_equal(err.msg, "job '/tmp' is a directory, not a shared object");
	cm_err_clear(&err);
	assert_int_equal(cl_job_file_open("/dev/null", 0, &fd, &size, &err), FL_EINVAL);
	assert_string_equal(err.msg, "job '/dev/null' is not a regular file, not a shared object");
}

/* ------------------------------------------------------------ replies */

static void test_upload_reply(void **state)
{
	char jar[64];
	cm_err err = {0};
	assert_int_equal(cl_reply_upload(S("{\"filename\": \"/tmp/flink-web/upload/"
					   "3c5e_wordcount.so\", \"status\": \"success\"}"),
					 jar, sizeof(jar), &err),
			 0);
	assert_string_equal(jar, "3c5e_wordcount.so");
	/* No status: accepted; no directory: the name is the id. */
	assert_int_equal(cl_reply_upload(S("{\"filename\": \"abc.so\"}"), jar, sizeof(jar), &err),
			 0);
	assert_string_equal(jar, "abc.so");
	struct {
		const char *body, *msg;
	} bad[] = {
	    {"{\"filename\": \"/x/a.so\", \"status\": \"failed\"}",
	     "the upload's status is 'failed', not 'success'"},
	    {"{\"filename\": \"/x/a.so\", \"status\": 1}",
	     "the upload's status is '(not a string)', not 'success'"},
	    {"{\"status\": \"success\"}", "the reply has no \"filename\""},
	    {"{\"filename\": \"\"}", "the reply has no \"filename\""},
	    {"{\"filename\": \"/x/\"}", "the uploaded file's name '/x/' is no jar id"},
	    {"{\"filename\": \"/x/..\"}", "the uploaded file's name '/x/..' is no jar id"},
	    {"{\"filename\": \"/x/a\\nb\"}", "the uploaded file's name '/x/a?b' is no jar id"},
	    {"{\"filename\": \"/x/0123456789012345678901234567890123456789012345678901234567890123"
	     "456789\"}",
	     "is longer than 63 bytes"},
	    {"<html>Not Found</html>", "the reply is not JSON: '<html>Not Found</html>'"},
	    {"[1, 2]", "the reply is not a JSON object"},
	    {"", "the reply is not JSON: ''"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cm_err_clear(&err);
		assert_int_equal(cl_reply_upload(S(bad[i].body), jar, sizeof(jar), &err),
				 FL_EPROTO);
		if (!strstr(err.msg, bad[i].msg))
			fail_msg("'%s' does not contain '%s'", err.msg, bad[i].msg);
	}
	/* The length given is the length read: no NUL needed, none past it. */
	const char body[] = "{\"filename\": \"/a/b.so\"}GARBAGE";
	assert_int_equal(cl_reply_upload(body, sizeof(body) - 1 - 7, jar, sizeof(jar), &err), 0);
	assert_string_equal(jar, "b.so");
}

static void test_run_reply(void **state)
{
	char id[CL_JOB_ID_LEN + 1];
	cm_err err = {0};
	assert_int_equal(
	    cl_reply_run(S("{\"jobid\": \"fd72014d4c864993a2e5a9287b4a9c5d\"}"), id, &err), 0);
	assert_string_equal(id, "fd72014d4c864993a2e5a9287b4a9c5d");
	assert_int_equal(
	    cl_reply_run(S("{\"jobId\": \"fd72014d4c864993a2e5a9287b4a9c5d\"}"), id, &err),
	    FL_EPROTO);
	assert_string_equal(err.msg, "the reply has no \"jobid\"");
	cm_err_clear(&err);
	assert_int_equal(cl_reply_run(S("{\"jobid\": \"../../etc\"}"), id, &err), FL_EPROTO);
	assert_string_equal(err.msg, "the reply's jobid '../../etc' is not 32 hexadecimal digits");
}

static void test_error_replies(void **state)
{
	char out[256];
	assert_int_equal(cl_reply_errors(S("{\"errors\": [\"Not found: /jars/x\", \"second\"]}"),
					 out, sizeof(out)),
			 2);
	assert_string_equal(out, "Not found: /jars/x\nsecond");
	/* Flink's server-side stack trace keeps its lines; escapes are cleaned. */
	assert_int_equal(cl_reply_errors(S("{\"errors\": [\"Internal server error.\", \"<Exception "
					   "on server side:\\n\\tat x\\u001b[31m>\"]}"),
					 out, sizeof(out)),
			 2);
	assert_string_equal(out,
			    "Internal server error.\n<Exception on server side:\n\tat x?[31m>");
	assert_int_equal(cl_reply_errors(S("<html>502 Bad Gateway</html>"), out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(cl_reply_errors(S("{\"errors\": \"one\"}"), out, sizeof(out)), 0);
	assert_int_equal(cl_reply_errors(S("{\"errors\": [1, \"only\"]}"), out, sizeof(out)), 1);
	assert_string_equal(out, "only");
	/* Cut with "..." when too long, the count still whole. */
	char small[16];
	assert_int_equal(cl_reply_errors(S("{\"errors\": [\"abcdefghijklmnopqrstuvwxyz\", \"b\"]}"),
					 small, sizeof(small)),
			 2);
	assert_string_equal(small, "abcdefghijkl...");
	assert_int_equal(cl_reply_errors(S("{\"errors\": [\"abcdef\", \"ghijklmnopqrstuvwxyz\"]}"),
					 small, sizeof(small)),
			 2);
	assert_string_equal(small, "abcdef\nghijk...");
}

static const char job_reply[] =
    "{\"jid\": \"fd72014d4c864993a2e5a9287b4a9c5d\", \"name\": \"Word\\nCount\", "
    "\"isStoppable\": false, \"state\": \"RUNNING\", \"start-time\": 1700000000000, "
    "\"end-time\": -1, \"duration\": 12345, \"now\": 1700000012345, "
    "\"vertices\": ["
    " {\"id\": \"v1\", \"name\": \"Source: Text -> Tokenizer\", \"parallelism\": 2, "
    "  \"status\": \"RUNNING\", \"metrics\": {\"read-records\": 0, \"write-records\": 12345, "
    "  \"read-records-complete\": true}},"
    " {\"id\": \"v2\", \"name\": \"Sum\", \"metrics\": {\"read-records\": 12000, "
    "  \"write-records\": 1500000}},"
    " {\"id\": \"v3\", \"name\": \"Sink: Print\", \"metrics\": {\"read-records\": 1500000, "
    "  \"write-records\": 0}}],"
    "\"status-counts\": {\"RUNNING\": 3},"
    "\"plan\": {\"jid\": \"fd72014d4c864993a2e5a9287b4a9c5d\", \"nodes\": ["
    " {\"id\": \"v1\", \"parallelism\": 2},"
    " {\"id\": \"v2\", \"inputs\": [{\"num\": 0, \"id\": \"v1\", \"ship_strategy\": \"HASH\"}]},"
    " {\"id\": \"v3\", \"inputs\": [{\"num\": 0, \"id\": \"v2\"}]}]}}";

static void test_job_reply_and_progress_line(void **state)
{
	cl_job j;
	cm_err err = {0};
	assert_int_equal(cl_reply_job(S(job_reply), &j, &err), 0);
	assert_string_equal(j.jid, "fd72014d4c864993a2e5a9287b4a9c5d");
	assert_string_equal(j.name, "Word?Count");
	assert_string_equal(j.state, "RUNNING");
	assert_int_equal(j.start_time, 1700000000000);
	assert_int_equal(j.end_time, -1);
	assert_int_equal(j.duration, 12345);
	assert_int_equal(j.nvertices, 3);
	assert_true(j.has_plan);
	assert_true(j.vertices[0].source);
	assert_false(j.vertices[0].sink);
	assert_false(j.vertices[1].source);
	assert_false(j.vertices[1].sink);
	assert_true(j.vertices[2].sink);
	assert_int_equal(j.vertices[1].write, 1500000);
	char line[512];
	cl_progress_line(&j, line, sizeof(line));
	assert_string_equal(line, "[  12.3s] Source: Text -> Tokenizer out=12.3K | Sum in=12.0K "
				  "out=1.5M | Sink: Print in=1.5M");
	/* Cut short, never past the buffer. */
	char tiny[20];
	cl_progress_line(&j, tiny, sizeof(tiny));
	assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
	cl_job_fini(&j);
}

static void test_job_reply_without_plan_or_metrics(void **state)
{
	cl_job j;
	cm_err err = {0};
	assert_int_equal(
	    cl_reply_job(S("{\"jid\": \"fd72014d4c864993a2e5a9287b4a9c5d\", \"state\": "
			   "\"CREATED\", \"vertices\": [{\"name\": \"A\"}, 7, "
			   "{\"name\": \"B\", \"metrics\": {\"read-records\": 5, "
			   "\"write-records\": \"x\"}}]}"),
			 &j, &err),
	    0);
	assert_false(j.has_plan);
	assert_int_equal(j.nvertices, 2);
	assert_int_equal(j.vertices[0].read, -1);
	assert_int_equal(j.vertices[1].read, 5);
	assert_int_equal(j.vertices[1].write, -1);
	assert_string_equal(j.name, "");
	assert_int_equal(j.duration, -1);
	char line[256];
	cl_progress_line(&j, line, sizeof(line));
	assert_string_equal(line, "[   0.0s] A in=0 out=0 | B in=5 out=0");
	cl_job_fini(&j);

	struct {
		const char *body, *msg;
	} bad[] = {
	    {"{\"state\": \"RUNNING\"}", "a job has no \"jid\""},
	    {"{\"jid\": \"x\", \"state\": \"RUNNING\"}",
	     "a job's jid 'x' is not 32 hexadecimal digits"},
	    {"{\"jid\": \"fd72014d4c864993a2e5a9287b4a9c5d\"}",
	     "job fd72014d4c864993a2e5a9287b4a9c5d has no \"state\""},
	    {"{\"jid\": \"fd72014d4c864993a2e5a9287b4a9c5d\", \"state\": 3}", "has no \"state\""},
	    {"not json", "the reply is not JSON: 'not json'"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cm_err_clear(&err);
		assert_int_equal(cl_reply_job(S(bad[i].body), &j, &err), FL_EPROTO);
		if (!strstr(err.msg, bad[i].msg))
			fail_msg("'%s' does not contain '%s'", err.msg, bad[i].msg);
		assert_null(j.vertices);
	}
}

static void test_job_reply_keeps_at_most_max_vertices(void **state)
{
	size_t n = CL_MAX_VERTICES + 10;
	size_t cap = 200 + n * 16;
	char *body = malloc(cap);
	assert_non_null(body);
	size_t len = (size_t)snprintf(body, cap,
				      "{\"jid\": \"fd72014d4c864993a2e5a9287b4a9c5d\", "
				      "\"state\": \"RUNNING\", \"vertices\": [");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(body + len, cap - len, "%s{\"name\": \"v\"}", i ? "," : "");
	len += (size_t)snprintf(body + len, cap - len, "]}");
	cl_job j;
	cm_err err = {0};
	assert_int_equal(cl_reply_job(body, len, &j, &err), 0);
	assert_int_equal(j.nvertices, CL_MAX_VERTICES);
	cl_job_fini(&j);
	free(body);
}

static const char overview[] =
    "{\"jobs\": ["
    " {\"jid\": \"00000000000000000000000000000003\", \"name\": \"Late\", \"state\": "
    "\"RUNNING\", \"start-time\": 1700000300000, \"end-time\": -1, \"duration\": 5},"
    " {\"jid\": \"00000000000000000000000000000001\", \"name\": \"Early\", \"state\": "
    "\"RESTARTING\", \"start-time\": 1700000000000},"
    " {\"jid\": \"00000000000000000000000000000002\", \"name\": \"Waiting\", \"state\": "
    "\"INITIALIZING\", \"start-time\": 1700000100000},"
    " {\"jid\": \"00000000000000000000000000000004\", \"name\": \"Done\", \"state\": "
    "\"FINISHED\", \"start-time\": 1690000000000, \"end-time\": 1690000001000},"
    " {\"jid\": \"00000000000000000000000000000005\", \"name\": \"Broke\", \"state\": "
    "\"FAILED\", \"start-time\": 1600000000000}]}";

/* cl_list_print's output as text (free it). */
static char *list_text(cl_job_list *l, unsigned sections)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	cl_list_print(f, l, sections);
	fclose(f);
	return buf;
}

static void test_list_prints_as_flink(void **state)
{
	setenv("TZ", "UTC", 1);
	tzset();
	cl_job_list l;
	cm_err err = {0};
	assert_int_equal(cl_reply_overview(S(overview), &l, &err), 0);
	assert_int_equal(l.njobs, 5);
	char *text = list_text(&l, CL_LIST_RUNNING | CL_LIST_SCHEDULED);
	assert_string_equal(
	    text, "------------------ Running/Restarting Jobs -------------------\n"
		  "14.11.2023 22:13:20 : 00000000000000000000000000000001 : Early "
		  "(RESTARTING)\n"
		  "14.11.2023 22:18:20 : 00000000000000000000000000000003 : Late (RUNNING)\n"
		  "--------------------------------------------------------------\n"
		  "----------------------- Scheduled Jobs -----------------------\n"
		  "14.11.2023 22:15:00 : 00000000000000000000000000000002 : Waiting "
		  "(INITIALIZING)\n"
		  "--------------------------------------------------------------\n");
	free(text);
	text = list_text(&l, CL_LIST_RUNNING | CL_LIST_SCHEDULED | CL_LIST_TERMINATED);
	assert_non_null(strstr(text,
			       "---------------------- Terminated Jobs -----------------------\n"
			       "13.09.2020 12:26:40 : 00000000000000000000000000000005 : Broke "
			       "(FAILED)\n"
			       "22.07.2023 04:26:40 : 00000000000000000000000000000004 : Done "
			       "(FINISHED)\n"
			       "--------------------------------------------------------------\n"));
	free(text);
	text = list_text(&l, CL_LIST_SCHEDULED);
	assert_null(strstr(text, "Running"));
	free(text);
	cl_job_list_fini(&l);
}

static void test_list_of_no_jobs(void **state)
{
	cl_job_list l;
	cm_err err = {0};
	assert_int_equal(cl_reply_overview(S("{\"jobs\": []}"), &l, &err), 0);
	char *text = list_text(&l, CL_LIST_RUNNING | CL_LIST_SCHEDULED | CL_LIST_TERMINATED);
	/* Flink prints nothing for no terminated jobs. */
	assert_string_equal(text, "No running jobs.\nNo scheduled jobs.\n");
	free(text);
	cl_job_list_fini(&l);
	/* Unknown start time. */
	assert_int_equal(cl_reply_overview(S("{\"jobs\": [{\"jid\": "
					     "\"00000000000000000000000000000009\", \"name\": "
					     "\"N\", \"state\": \"RUNNING\"}]}"),
					   &l, &err),
			 0);
	text = list_text(&l, CL_LIST_RUNNING);
	assert_non_null(strstr(text, "unknown start time : 00000000000000000000000000000009 : N "
				     "(RUNNING)\n"));
	free(text);
	cl_job_list_fini(&l);
}

static void test_overview_refusals(void **state)
{
	cl_job_list l;
	struct {
		const char *body, *msg;
	} bad[] = {
	    {"{}", "the reply has no \"jobs\" array"},
	    {"{\"jobs\": {}}", "the reply has no \"jobs\" array"},
	    {"{\"jobs\": [1]}", "job 1 of \"jobs\" is not an object"},
	    {"{\"jobs\": [{\"jid\": \"00000000000000000000000000000009\"}]}", "has no \"state\""},
	    {"{\"jobs\": [", "the reply is not JSON"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cm_err err = {0};
		assert_int_equal(cl_reply_overview(S(bad[i].body), &l, &err), FL_EPROTO);
		if (!strstr(err.msg, bad[i].msg))
			fail_msg("'%s' does not contain '%s'", err.msg, bad[i].msg);
		assert_null(l.jobs);
	}
}

static void test_exception_reply(void **state)
{
	char out[256];
	assert_int_equal(
	    cl_reply_exception(S("{\"root-exception\": \"java.lang.Exception: boom\\n\\tat "
				 "x\\n\", \"timestamp\": 1}"),
			       out, sizeof(out)),
	    0);
	assert_string_equal(out, "java.lang.Exception: boom\n\tat x");
	assert_int_equal(
	    cl_reply_exception(S("{\"exceptionHistory\": {\"entries\": [{"
				 "\"exceptionName\": \"E\", \"stacktrace\": "
				 "\"map: division by zero\"}], \"truncated\": false}}"),
			       out, sizeof(out)),
	    0);
	assert_string_equal(out, "map: division by zero");
	assert_int_equal(cl_reply_exception(S("{\"root-exception\": null, \"exceptionHistory\": "
					      "{\"entries\": [{\"exceptionName\": \"Oops\"}]}}"),
					    out, sizeof(out)),
			 0);
	assert_string_equal(out, "Oops");
	assert_int_equal(
	    cl_reply_exception(S("{\"exceptionHistory\": {\"entries\": []}}"), out, sizeof(out)),
	    FL_ENOENT);
	assert_string_equal(out, "");
	assert_int_equal(cl_reply_exception(S("{}"), out, sizeof(out)), FL_ENOENT);
	assert_int_equal(cl_reply_exception(S("]"), out, sizeof(out)), FL_ENOENT);
}

static void test_state_classes(void **state)
{
	assert_int_equal(cl_state_class("CREATED"), CL_STATE_SCHEDULED);
	assert_int_equal(cl_state_class("INITIALIZING"), CL_STATE_SCHEDULED);
	const char *running[] = {"RUNNING",   "FAILING",     "CANCELLING",   "RESTARTING",
				 "SUSPENDED", "RECONCILING", "SOMETHING-NEW"};
	for (size_t i = 0; i < sizeof(running) / sizeof(running[0]); i++)
		assert_int_equal(cl_state_class(running[i]), CL_STATE_RUNNING);
	assert_int_equal(cl_state_class("FINISHED"), CL_STATE_TERMINAL);
	assert_int_equal(cl_state_class("FAILED"), CL_STATE_TERMINAL);
	assert_int_equal(cl_state_class("CANCELED"), CL_STATE_TERMINAL);
}

static void test_run_body(void **state)
{
	char *body = NULL;
	cm_err err = {0};
	char *args[] = {"--input", "a \"b\".txt"};
	const char *conf[] = {"a.b=1", "c=x=y", "a.b=2"};
	assert_int_equal(cl_run_body(args, 2, 4, conf, 3, NULL, &body, &err), 0);
	assert_string_equal(
	    body, "{\"programArgsList\":[\"--input\",\"a \\\"b\\\".txt\"],"
		  "\"parallelism\":4,\"flinkConfiguration\":{\"c\":\"x=y\",\"a.b\":\"2\"}}");
	free(body);
	assert_int_equal(cl_run_body(NULL, 0, 0, NULL, 0, NULL, &body, &err), 0);
	assert_string_equal(body, "{\"programArgsList\":[]}");
	free(body);
	const char *bad[] = {"novalue"};
	assert_int_equal(cl_run_body(NULL, 0, 0, bad, 1, NULL, &body, &err), FL_EINVAL);
	assert_null(body);
	/* Flink's names for -s, -n and -rm; what is not given is not sent. */
	cl_restore r = {.path = "/sp/savepoint-1", .allow_non_restored = true, .mode = "CLAIM"};
	assert_int_equal(cl_run_body(NULL, 0, 0, NULL, 0, &r, &body, &err), 0);
	assert_string_equal(body, "{\"programArgsList\":[],\"savepointPath\":\"/sp/savepoint-1\","
				  "\"allowNonRestoredState\":true,\"restoreMode\":\"CLAIM\"}");
	free(body);
	cl_restore none = {0};
	assert_int_equal(cl_run_body(NULL, 0, 0, NULL, 0, &none, &body, &err), 0);
	assert_string_equal(body, "{\"programArgsList\":[]}");
	free(body);
}

static void test_savepoint_and_disposal_bodies(void **state)
{
	char *body = NULL;
	cm_err err = {0};
	assert_int_equal(cl_savepoint_body("/sp", &body, &err), 0);
	assert_string_equal(body, "{\"target-directory\":\"/sp\",\"cancel-job\":false}");
	free(body);
	assert_int_equal(cl_savepoint_body(NULL, &body, &err), 0);
	assert_string_equal(body, "{\"cancel-job\":false}");
	free(body);
	assert_int_equal(cl_dispose_body("/sp/a \"b\"", &body, &err), 0);
	assert_string_equal(body, "{\"savepoint-path\":\"/sp/a \\\"b\\\"\"}");
	free(body);
}

static void test_operation_replies(void **state)
{
	char id[CL_JOB_ID_LEN + 1];
	cm_err err = {0};
	const char *t = "{\"request-id\": \"0123456789abcdef0123456789abcdef\"}";
	assert_int_equal(cl_reply_trigger(t, strlen(t), id, &err), 0);
	assert_string_equal(id, "0123456789abcdef0123456789abcdef");
	const char *bad_id = "{\"request-id\": \"42\"}";
	assert_int_equal(cl_reply_trigger(bad_id, strlen(bad_id), id, &err), FL_EPROTO);
	assert_string_equal(err.msg, "the reply's request-id '42' is not 32 hexadecimal digits");
	cm_err_clear(&err);
	assert_int_equal(cl_reply_trigger("{}", 2, id, &err), FL_EPROTO);
	assert_string_equal(err.msg, "the reply has no \"request-id\"");
	cm_err_clear(&err);

	cl_operation op;
	const char *running = "{\"status\": {\"id\": \"IN_PROGRESS\"}}";
	assert_int_equal(cl_reply_operation(running, strlen(running), &op, &err), 0);
	assert_false(op.done);
	const char *saved = "{\"status\": {\"id\": \"COMPLETED\"}, \"operation\": "
			    "{\"location\": \"file:/sp/savepoint-1\"}}";
	assert_int_equal(cl_reply_operation(saved, strlen(saved), &op, &err), 0);
	assert_true(op.done);
	assert_false(op.failed);
	assert_string_equal(op.text, "file:/sp/savepoint-1");
	/* A disposal has no location; Flink may send a null failure-cause. */
	const char *disposed = "{\"status\": {\"id\": \"COMPLETED\"}, \"operation\": "
			       "{\"failure-cause\": null}}";
	assert_int_equal(cl_reply_operation(disposed, strlen(disposed), &op, &err), 0);
	assert_true(op.done);
	assert_false(op.failed);
	assert_string_equal(op.text, "");
	const char *failed = "{\"status\": {\"id\": \"COMPLETED\"}, \"operation\": "
			     "{\"failure-cause\": {\"class\": \"x.Failure\", \"stack-trace\": "
			     "\"Cannot dispose '/sp\\u001b[2J':\\nno _metadata\"}}}";
	assert_int_equal(cl_reply_operation(failed, strlen(failed), &op, &err), 0);
	assert_true(op.done);
	assert_true(op.failed);
	assert_string_equal(op.text, "Cannot dispose '/sp?[2J':\nno _metadata");
	const char *class_only = "{\"status\": {\"id\": \"COMPLETED\"}, \"operation\": "
				 "{\"failure-cause\": {\"class\": \"x.Failure\"}}}";
	assert_int_equal(cl_reply_operation(class_only, strlen(class_only), &op, &err), 0);
	assert_true(op.failed);
	assert_string_equal(op.text, "x.Failure");
	const char *odd = "{\"status\": {\"id\": \"DONE\"}}";
	assert_int_equal(cl_reply_operation(odd, strlen(odd), &op, &err), FL_EPROTO);
	assert_string_equal(err.msg,
			    "the operation's status 'DONE' is neither IN_PROGRESS nor COMPLETED");
	cm_err_clear(&err);
	const char *no_status = "{\"operation\": {}}";
	assert_int_equal(cl_reply_operation(no_status, strlen(no_status), &op, &err), FL_EPROTO);
	cm_err_clear(&err);
	const char *not_object = "{\"status\": {\"id\": \"COMPLETED\"}, \"operation\": 3}";
	assert_int_equal(cl_reply_operation(not_object, strlen(not_object), &op, &err),
			 FL_EPROTO);
	cm_err_clear(&err);
	assert_int_equal(cl_reply_operation("<html>", 6, &op, &err), FL_EPROTO);
}

static void test_clean(void **state)
{
	char out[8];
	cl_clean(out, sizeof(out), S("a\x1b[0m\x7f"), false);
	assert_string_equal(out, "a?[0m?");
	cl_clean(out, sizeof(out), S("a\nb\tc"), true);
	assert_string_equal(out, "a\nb\tc");
	/* "héllo wörld": never cut inside a UTF-8 sequence. */
	cl_clean(out, 7, S("abcde\xc3\xa9"), false);
	assert_string_equal(out, "abcde");
	cl_clean(out, sizeof(out), S("abcde\xc3\xa9"), false);
	assert_string_equal(out, "abcde\xc3\xa9");
	char h[16];
	cl_human(9999, h, sizeof(h));
	assert_string_equal(h, "9999");
	cl_human(10000, h, sizeof(h));
	assert_string_equal(h, "10.0K");
	cl_human(2500000000ull, h, sizeof(h));
	assert_string_equal(h, "2.5G");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_address_forms),
	    cmocka_unit_test(test_address_refusals_name_the_problem),
	    cmocka_unit_test(test_address_from_configuration),
	    cmocka_unit_test(test_client_timeout_key),
	    cmocka_unit_test(test_job_ids),
	    cmocka_unit_test(test_elf_check_accepts_a_shared_object),
	    cmocka_unit_test(test_elf_check_refuses_what_is_no_shared_object),
	    cmocka_unit_test(test_elf_check_survives_lying_tables),
	    cmocka_unit_test(test_job_file_open),
	    cmocka_unit_test(test_upload_reply),
	    cmocka_unit_test(test_run_reply),
	    cmocka_unit_test(test_error_replies),
	    cmocka_unit_test(test_job_reply_and_progress_line),
	    cmocka_unit_test(test_job_reply_without_plan_or_metrics),
	    cmocka_unit_test(test_job_reply_keeps_at_most_max_vertices),
	    cmocka_unit_test(test_list_prints_as_flink),
	    cmocka_unit_test(test_list_of_no_jobs),
	    cmocka_unit_test(test_overview_refusals),
	    cmocka_unit_test(test_exception_reply),
	    cmocka_unit_test(test_state_classes),
	    cmocka_unit_test(test_run_body),
	    cmocka_unit_test(test_savepoint_and_disposal_bodies),
	    cmocka_unit_test(test_operation_replies),
	    cmocka_unit_test(test_clean),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
