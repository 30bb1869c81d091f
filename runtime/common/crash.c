/*
 * crash.c — the fatal-signal handler (see crash.h). Everything the handler
 * touches is prepared at install time or lives in static storage: a crashed
 * process may have a corrupt heap, so the handler never allocates.
 */
#include "common/crash.h"

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"

#define CRASH_LINE_MAX 1024
#define CRASH_FRAMES 64
/* Room for the handler, dladdr and backtrace, with sanitizer redzones. */
#define CRASH_STACK_SIZE (128u * 1024u)

static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

static atomic_bool installed;
/* First crash wins the static buffer; a second thread crashing meanwhile
 * dies of its signal without a line. */
static atomic_flag crashing = ATOMIC_FLAG_INIT;
static char line[CRASH_LINE_MAX];
static size_t line_len;
static void *frames[CRASH_FRAMES];
/* Base address of the object holding this code (libflinc.so, or the
 * program it is linked into). */
static void *runtime_base;

static _Thread_local void *tl_altstack;

/* ------------------------------------------------- formatting by hand */

/* Appends to line, cut at CRASH_LINE_MAX - 1 (room for the newline). */
static void put_mem(const char *s, size_t n)
{
	if (n > CRASH_LINE_MAX - 1 - line_len)
		n = CRASH_LINE_MAX - 1 - line_len;
	memcpy(line + line_len, s, n);
	line_len += n;
}

static void put(const char *s)
{
	put_mem(s, strlen(s));
}

static void put_dec(uint64_t v, int width)
{
	char b[24];
	int n = 0;
	do {
		b[sizeof(b) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n < width && n < (int)sizeof(b))
		b[sizeof(b) - 1 - n++] = '0';
	put_mem(b + sizeof(b) - n, (size_t)n);
}

static void put_hex(uintptr_t v)
{
	char b[2 + 2 * sizeof(v)];
	int n = 0;
	do {
		b[sizeof(b) - 1 - n++] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	b[sizeof(b) - 1 - n++] = 'x';
	b[sizeof(b) - 1 - n++] = '0';
	put_mem(b + sizeof(b) - n, (size_t)n);
}

/* The log's timestamp (UTC, ms), from days since the epoch by Howard
 * Hinnant's civil_from_days: gmtime_r is not async-signal-safe. */
static void put_time(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return;
	int64_t secs = ts.tv_sec, days = secs / 86400, rem = secs % 86400;
	int64_t z = days + 719468;
	int64_t era = z / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;
	int64_t y = yoe + era * 400 + (m <= 2);
	put_dec((uint64_t)y, 4);
	put("-");
	put_dec((uint64_t)m, 2);
	put("-");
	put_dec((uint64_t)d, 2);
	put("T");
	put_dec((uint64_t)(rem / 3600), 2);
	put(":");
	put_dec((uint64_t)(rem / 60 % 60), 2);
	put(":");
	put_dec((uint64_t)(rem % 60), 2);
	put(".");
	put_dec((uint64_t)(ts.tv_nsec / 1000000), 3);
	put("Z ");
}

static const char *signal_name(int sig)
{
	switch (sig) {
	case SIGSEGV:
		return "SIGSEGV";
	case SIGBUS:
		return "SIGBUS";
	case SIGFPE:
		return "SIGFPE";
	case SIGILL:
		return "SIGILL";
	case SIGABRT:
		return "SIGABRT";
	default:
		return "a fatal signal";
	}
}

static const char *base_name(const char *path)
{
	const char *slash = path ? strrchr(path, '/') : NULL;
	return slash ? slash + 1 : path ? path : "";
}

/* ------------------------------------------------ naming the function */

/* True for code that is not the user's: this runtime, libc and the dynamic
 * loader, the sanitizer and unwinder runtimes. A crash there (abort(), a
 * memcpy given a bad pointer) is named after its first caller outside. */
static bool is_runtime_object(const Dl_info *info)
{
	static const char *const system_prefixes[] = {
	    "libc.so",	"libc-",   "ld-linux", "ld-musl",  "libpthread", "libasan",
	    "libubsan", "libtsan", "liblsan",  "libgcc_s", "linux-vdso", "linux-gate"};
	if (info->dli_fbase == runtime_base)
		return true;
	const char *b = base_name(info->dli_fname);
	for (size_t i = 0; i < sizeof(system_prefixes) / sizeof(system_prefixes[0]); i++)
		if (strncmp(b, system_prefixes[i], strlen(system_prefixes[i])) == 0)
			return true;
	return false;
}

/* The stack pointer at the fault, or 0 where unknown. */
static uintptr_t fault_sp(void *uctx)
{
	ucontext_t *uc = uctx;
	if (!uc)
		return 0;
#if defined(__x86_64__)
	return (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__i386__)
	return (uintptr_t)uc->uc_mcontext.gregs[REG_ESP];
#elif defined(__aarch64__)
	return (uintptr_t)uc->uc_mcontext.sp;
#else
	return 0;
#endif
}

/* The faulting instruction, or NULL where the architecture is not known. */
static void *fault_pc(void *uctx)
{
	ucontext_t *uc = uctx;
	if (!uc)
		return NULL;
#if defined(__x86_64__)
	return (void *)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__i386__)
	return (void *)uc->uc_mcontext.gregs[REG_EIP];
#elif defined(__aarch64__)
	return (void *)uc->uc_mcontext.pc;
#else
	return NULL;
#endif
}

/* Appends " in fn() [object]" for the code at pc. */
static void put_function(void *pc, bool return_address)
{
	Dl_info info;
	/* A return address may be one past the end of its caller. */
	void *probe = return_address ? (char *)pc - 1 : pc;
	if (!pc || !dladdr(probe, &info) || !info.dli_fname) {
		put(" at ");
		put_hex((uintptr_t)pc);
		put(" (in no known object)");
		return;
	}
	const char *b = base_name(info.dli_fname);
	put(" in ");
	if (info.dli_sname) {
		put(info.dli_sname);
		put("() [");
		put(*b ? b : "main program");
		put("]");
		return;
	}
	/* No dynamic symbol there: a static function, or the cold part a
	 * compiler split off (a noreturn call such as abort()). The offset is
	 * what `addr2line -f -e OBJECT OFFSET` names. */
	put("code without an exported name [");
	put(*b ? b : "main program");
	put("+");
	put_hex((uintptr_t)probe - (uintptr_t)info.dli_fbase + (return_address ? 1 : 0));
	put("]");
}

/* The function to name: the faulting one, unless it is the runtime's, libc's
 * or the loader's; then the innermost caller outside those. */
static void put_culprit(void *pc)
{
	Dl_info info;
	if (pc && dladdr(pc, &info) && info.dli_fname && !is_runtime_object(&info)) {
		put_function(pc, false);
		return;
	}
	int n = backtrace(frames, CRASH_FRAMES);
	for (int i = 0; i < n; i++) {
		if (dladdr((char *)frames[i] - 1, &info) && info.dli_fname &&
		    !is_runtime_object(&info)) {
			put_function(frames[i], true);
			return;
		}
	}
	put_function(pc, false);
}

/* ------------------------------------------------------------ handler */

/* write(2) until done, resuming after EINTR; gives up on any error. */
static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void die_of(int sig)
{
	struct sigaction dfl;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	/* Pending while the handler runs; delivered, fatally, on return (and a
	 * faulting instruction would fault again anyway). */
	raise(sig);
}

/* The handler (see crash.h): one line to stderr and the log file, then the
 * same signal with its default disposition. Any thread; never allocates. */
static void crash_handler(int sig, siginfo_t *si, void *uctx)
{
	int saved_errno = errno;
	if (atomic_flag_test_and_set(&crashing)) {
		die_of(sig);
		errno = saved_errno;
		return;
	}
	line_len = 0;
	put_time();
	const char *job = cm_log_thread_job(), *task = cm_log_thread_task();
	put("FATAL ");
	put(task[0] ? "task " : "process ");
	if (job[0]) {
		put("job=");
		put(job);
		put(" ");
	}
	if (task[0]) {
		put("task=");
		put(task);
		put(" ");
	}
	put("crashed with ");
	put(signal_name(sig));
	/* si_code > 0: raised by the hardware, si_addr is the faulting address
	 * (the instruction's for SIGILL and SIGFPE). */
	if (sig != SIGABRT && si && si->si_code > 0) {
		uintptr_t addr = (uintptr_t)si->si_addr, sp = fault_sp(uctx);
		put(" (address ");
		put_hex(addr);
		/* A fault within a frame's reach of the stack pointer is the
		 * guard page of an exhausted stack. */
		if (sig == SIGSEGV && sp && (addr > sp ? addr - sp : sp - addr) < 65536)
			put(", a stack overflow");
		put(")");
	}
	put_culprit(fault_pc(uctx));
	put(task[0] ? "; the process exits, as a crashed JVM takes its TaskManager down"
		    : "; the process exits");
	line[line_len++] = '\n';
	write_all(STDERR_FILENO, line, line_len);
	int fd = cm_log_file_fd();
	if (fd >= 0)
		write_all(fd, line, line_len);
	die_of(sig);
	errno = saved_errno;
}

int cm_crash_install(void)
{
	if (atomic_exchange(&installed, true))
		return 0;
	Dl_info self;
	if (dladdr((void *)cm_crash_install, &self))
		runtime_base = self.dli_fbase;
	/* backtrace()'s first call loads the unwinder with dlopen and malloc:
	 * not something to do inside a crash. */
	void *warm[2];
	(void)backtrace(warm, 2);
	for (size_t i = 0; i < sizeof(crash_signals) / sizeof(crash_signals[0]); i++) {
		struct sigaction old;
		if (sigaction(crash_signals[i], NULL, &old) != 0)
			return cm_err_from_errno(errno);
		bool has_handler = (old.sa_flags & SA_SIGINFO)
				       ? old.sa_sigaction != NULL
				       : (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN);
		if (has_handler)
			continue;
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = crash_handler;
		sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
		sigemptyset(&sa.sa_mask);
		if (sigaction(crash_signals[i], &sa, NULL) != 0)
			return cm_err_from_errno(errno);
	}
	return 0;
}

int cm_crash_thread_init(void)
{
	stack_t cur;
	if (tl_altstack || (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE)))
		return 0;
	void *p = mmap(NULL, CRASH_STACK_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (p == MAP_FAILED)
		return FL_ENOMEM;
	stack_t st = {.ss_sp = p, .ss_size = CRASH_STACK_SIZE, .ss_flags = 0};
	if (sigaltstack(&st, NULL) != 0) {
		munmap(p, CRASH_STACK_SIZE);
		return FL_ENOMEM;
	}
	tl_altstack = p;
	return 0;
}

void cm_crash_thread_fini(void)
{
	if (!tl_altstack)
		return;
	stack_t st = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
	sigaltstack(&st, NULL);
	munmap(tl_altstack, CRASH_STACK_SIZE);
	tl_altstack = NULL;
}
