/*
 * test_k8s_config.c — the kubeconfig reader and the in-cluster configuration
 * (runtime/k8s/config.h): contexts, *-data against file paths, KUBECONFIG
 * merge order, and the errors that name what is missing or malformed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "k8s/config.h"

static char dir[256];

static char *write_file(const char *name, const char *text)
{
	static char path[4][512];
	static int next;
	char *p = path[next++ % 4];
	snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return p;
}

static int setup(void **state)
{
	(void)state;
	const char *t = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/flinc-k8s-config-XXXXXX", t && *t ? t : "/tmp");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* base64 of "CA-PEM", "CERT-PEM", "KEY-PEM" */
#define CA64 "Q0EtUEVN"
#define CERT64 "Q0VSVC1QRU0="
#define KEY64 "S0VZLVBFTQ=="

static const char *two_contexts = "apiVersion: v1\n"
				  "kind: Config\n"
				  "current-context: dev\n"
				  "clusters:\n"
				  "- name: c-dev\n"
				  "  cluster:\n"
				  "    server: https://dev.example:6443/\n"
				  "    certificate-authority-data: " CA64 "\n"
				  "- name: c-prod\n"
				  "  cluster:\n"
				  "    server: https://prod.example:443\n"
				  "    insecure-skip-tls-verify: true\n"
				  "contexts:\n"
				  "- name: dev\n"
				  "  context: {cluster: c-dev, user: u-cert, namespace: team-a}\n"
				  "- name: prod\n"
				  "  context: {cluster: c-prod, user: u-token}\n"
				  "users:\n"
				  "- name: u-cert\n"
				  "  user:\n"
				  "    client-certificate-data: " CERT64 "\n"
				  "    client-key-data: " KEY64 "\n"
				  "- name: u-token\n"
				  "  user: {token: s3cret}\n";

static void test_current_context_with_data_fields(void **state)
{
	(void)state;
	char *p = write_file("kc", two_contexts);
	k8s_config c;
	cm_err e = {0};
	assert_int_equal(k8s_config_from_kubeconfig(&c, p, NULL, &e), 0);
	assert_string_equal(c.server, "https://dev.example:6443");
	assert_string_equal(c.context, "dev");
	assert_string_equal(c.namespace, "team-a");
	assert_int_equal(c.ca_len, 6);
	assert_memory_equal(c.ca, "CA-PEM", 6);
	assert_memory_equal(c.cert, "CERT-PEM", 8);
	assert_memory_equal(c.key, "KEY-PEM", 7);
	assert_null(c.token);
	assert_false(c.insecure);
	k8s_config_fini(&c);
	k8s_config_fini(&c); /* safe twice */
}

static void test_explicit_context(void **state)
{
	(void)state;
	char *p = write_file("kc", two_contexts);
	k8s_config c;
	cm_err e = {0};
	assert_int_equal(k8s_config_from_kubeconfig(&c, p, "prod", &e), 0);
	assert_string_equal(c.server, "https://prod.example:443");
	assert_string_equal(c.namespace, "default");
	assert_string_equal(c.token, "s3cret");
	assert_true(c.insecure);
	assert_null(c.ca);
	assert_null(c.cert);
	k8s_config_fini(&c);
}

static void test_missing_context_is_named(void **state)
{
	(void)state;
	char *p = write_file("kc", two_contexts);
	k8s_config c;
	cm_err e = {0};
	assert_int_equal(k8s_config_from_kubeconfig(&c, p, "staging", &e), FL_ENOENT);
	assert_non_null(strstr(e.msg, "context \"staging\" is not defined"));
	assert_non_null(strstr(e.msg, p));
	assert_null(c.server);
}

static void test_files_relative_to_the_kubeconfig(void **state)
{
	(void)state;
	write_file("ca.pem", "CA FROM FILE\n");
	write_file("cert.pem", "CERT FROM FILE\n");
	write_file("key.pem", "KEY FROM FILE\n");
	write_file("token", "tok-from-file\n");
	char *p =
	    write_file("kc", "current-context: x\n"
			     "clusters: [{name: c, cluster: {server: 'https://h:1', "
			     "certificate-authority: ca.pem}}]\n"
			     "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
			     "users: [{name: u, user: {client-certificate: cert.pem, client-key: "
			     "key.pem, tokenFile: token}}]\n");
	k8s_config c;
	cm_err e = {0};
	assert_int_equal(k8s_config_from_kubeconfig(&c, p, NULL, &e), 0);
	assert_string_equal((char *)c.ca, "CA FROM FILE\n");
	assert_string_equal((char *)c.cert, "CERT FROM FILE\n");
	assert_string_equal((char *)c.key, "KEY FROM FILE\n");
	assert_string_equal(c.token, "tok-from-file");
	k8s_config_fini(&c);

	/* A missing referenced file names the kubeconfig, the key and the file. */
	p = write_file("kc2", "current-context: x\n"
			      "clusters: [{name: c, cluster: {server: 'https://h:1', "
			      "certificate-authority: nope.pem}}]\n"
			      "contexts: [{name: x, context: {cluster: c}}]\n");
	cm_err e2 = {0};
	assert_int_equal(k8s_config_from_kubeconfig(&c, p, NULL, &e2), FL_ENOENT);
	assert_non_null(strstr(e2.msg, "certificate-authority"));
	assert_non_null(strstr(e2.msg, "nope.pem"));
}

static void test_kubeconfig_merge_first_file_wins(void **state)
{
	(void)state;
	char a[512], b[512], list[2048];
	/* a: no current-context; defines cluster c (server A) and context x. */
	snprintf(a, sizeof(a), "%s",
		 write_file("a", "clusters: [{name: c, cluster: {server: 'https://A'}}]\n"
				 "contexts: [{name: x, context: {cluster: c, user: u}}]\n"));
	/* b: current-context x; cluster c again (server B, loses); user u. */
	snprintf(b, sizeof(b), "%s",
		 write_file("b", "current-context: x\n"
				 "clusters: [{name: c, cluster: {server: 'https://B'}}]\n"
				 "contexts: [{name: x, context: {cluster: c, user: other}}]\n"
				 "users: [{name: u, user: {token: from-b}}]\n"));
	snprintf(list, sizeof(list), "%s/does-not-exist::%s:%s", dir, a, b);
	k8s_config c;
	cm_err e = {0};
	assert_int_equal(k8s_config_from_kubeconfig(&c, list, NULL, &e), 0);
	assert_string_equal(c.context, "x");
	assert_string_equal(c.server, "https://A");
	assert_string_equal(c.token, "from-b");
	k8s_config_fini(&c);
	/* The other order: b's context (user "other", not defined) wins. */
	snprintf(list, sizeof(list), "%s:%s", b, a);
	cm_err e2 = {0};
	assert_int_equal(k8s_config_from_kubeconfig(&c, list, NULL, &e2), FL_ENOENT);
	assert_non_null(strstr(e2.msg, "user \"other\""));
}

static void test_malformed_file_names_the_line(void **state)
{
	(void)state;
	char *p = write_file("bad", "current-context: x\n"
				    "clusters:\n"
				    "- name: c\n"
				    "  cluster: {server: [unclosed\n"
				    "contexts: []\n");
	k8s_config c;
	cm_err e = {0};
	assert_int_equal(k8s_config_from_kubeconfig(&c, p, NULL, &e), FL_EPROTO);
	char want[600];
	snprintf(want, sizeof(want), "%s:5:", p);
	assert_non_null(strstr(e.msg, want));
	assert_non_null(strstr(e.msg, "malformed kubeconfig"));

	p = write_file("scalar", "just a string\n");
	cm_err e2 = {0};
	assert_int_equal(k8s_config_from_kubeconfig(&c, p, NULL, &e2), FL_EPROTO);
	assert_non_null(strstr(e2.msg, "not a mapping"));
}

static void test_bad_base64_and_half_a_key_pair(void **state)
{
	(void)state;
	char *p = write_file("b64", "current-context: x\n"
				    "clusters: [{name: c, cluster: {server: 'https://h', "
				    "certificate-authority-data: '!!not*base64'}}]\n"
				    "contexts: [{name: x, context: {cluster: c}}]\n");
	k8s_config c;
	cm_err e = {0};
	assert_int_equal(k8s_config_from_kubeconfig(&c, p, NULL, &e), FL_EPROTO);
	assert_non_null(strstr(e.msg, "certificate-authority-data is not valid base64"));

	p = write_file("half", "current-context: x\n"
			       "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
			       "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
			       "users: [{name: u, user: {client-certificate-data: " CERT64 "}}]\n");
	cm_err e2 = {0};
	assert_int_equal(k8s_config_from_kubeconfig(&c, p, NULL, &e2), FL_EPROTO);
	assert_non_null(strstr(e2.msg, "no client key"));

	p = write_file("noserver", "current-context: x\n"
				   "clusters: [{name: c, cluster: {}}]\n"
				   "contexts: [{name: x, context: {cluster: c}}]\n");
	cm_err e3 = {0};
	assert_int_equal(k8s_config_from_kubeconfig(&c, p, NULL, &e3), FL_EPROTO);
	assert_non_null(strstr(e3.msg, "cluster \"c\" has no server"));
}

static void test_exec_plugin_is_refused_by_name(void **state)
{
	(void)state;
	char *p = write_file(
	    "exec", "current-context: x\n"
		    "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
		    "contexts: [{name: x, context: {cluster: c, user: gke}}]\n"
		    "users: [{name: gke, user: {exec: {command: gke-gcloud-auth-plugin}}}]\n");
	k8s_config c;
	cm_err e = {0};
	assert_int_equal(k8s_config_from_kubeconfig(&c, p, NULL, &e), FL_EINVAL);
	assert_non_null(strstr(e.msg, "user \"gke\" gets its credentials from an exec plugin"));
}

static void test_no_file_and_oversized_file(void **state)
{
	(void)state;
	char list[600];
	snprintf(list, sizeof(list), "%s/none1:%s/none2", dir, dir);
	k8s_config c;
	cm_err e = {0};
	assert_int_equal(k8s_config_from_kubeconfig(&c, list, NULL, &e), FL_ENOENT);
	assert_non_null(strstr(e.msg, "no kubeconfig file exists"));

	char path[512];
	snprintf(path, sizeof(path), "%s/huge", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	for (size_t i = 0; i < K8S_CONFIG_FILE_MAX / 64 + 1; i++)
		fputs("# 64 bytes of comment..........................................\n", f);
	fclose(f);
	cm_err e2 = {0};
	assert_int_equal(k8s_config_from_kubeconfig(&c, path, NULL, &e2), FL_ERANGE);
	assert_non_null(strstr(e2.msg, "larger than"));

	cm_err e3 = {0};
	char *p = write_file("nocur", "contexts: []\n");
	assert_int_equal(k8s_config_from_kubeconfig(&c, p, NULL, &e3), FL_ENOENT);
	assert_non_null(strstr(e3.msg, "no current-context"));
}

static void test_in_cluster(void **state)
{
	(void)state;
	char sa[400];
	snprintf(sa, sizeof(sa), "%s/sa", dir);
	assert_int_equal(mkdir(sa, 0700), 0);
	write_file("sa/token", "pod-token\n");
	write_file("sa/ca.crt", "SA CA");
	write_file("sa/namespace", "jobs");
	k8s_config c;
	cm_err e = {0};
	unsetenv("KUBERNETES_SERVICE_HOST");
	assert_int_equal(k8s_config_in_cluster(&c, sa, &e), FL_ENOENT);
	assert_non_null(strstr(e.msg, "KUBERNETES_SERVICE_HOST"));
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	cm_err e2 = {0};
	assert_int_equal(k8s_config_in_cluster(&c, sa, &e2), 0);
	assert_string_equal(c.server, "https://10.96.0.1:443");
	assert_string_equal(c.token, "pod-token");
	assert_string_equal(c.namespace, "jobs");
	assert_memory_equal(c.ca, "SA CA", 5);
	k8s_config_fini(&c);
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	cm_err e3 = {0};
	assert_int_equal(k8s_config_in_cluster(&c, sa, &e3), 0);
	assert_string_equal(c.server, "https://[fd00::1]:443");
	k8s_config_fini(&c);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_current_context_with_data_fields),
	    cmocka_unit_test(test_explicit_context),
	    cmocka_unit_test(test_missing_context_is_named),
	    cmocka_unit_test(test_files_relative_to_the_kubeconfig),
	    cmocka_unit_test(test_kubeconfig_merge_first_file_wins),
	    cmocka_unit_test(test_malformed_file_names_the_line),
	    cmocka_unit_test(test_bad_base64_and_half_a_key_pair),
	    cmocka_unit_test(test_exec_plugin_is_refused_by_name),
	    cmocka_unit_test(test_no_file_and_oversized_file),
	    cmocka_unit_test(test_in_cluster),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
