/*
 * crash.h — one last line when the process crashes.
 *
 * A user function that crashes the process (SIGSEGV, SIGBUS, SIGFPE, SIGILL,
 * SIGABRT) takes the whole process down, as a native crash takes a Flink
 * TaskManager's JVM down. Before it dies, the handler writes one line to
 * stderr (and to the log file, if any) naming the crashed thread's job and
 * task, the signal, the faulting address and the function that was
 * running, found from the faulting instruction with dladdr() — or, when
 * that is inside libc or the runtime (abort(), a memcpy), the first caller
 * in another object (the job's .so):
 *
 *   2026-11-29T10:00:00.123Z FATAL task job=8f3a.. task=Map (1/2) crashed with SIGSEGV
 *   (address 0x10) in m_segv() [faults.so]; the process exits, as a crashed JVM takes its
 *   TaskManager down
 *
 * (one line). The signal is then raised again with its default disposition,
 * so the process still dies of it (exit status 128+N, core dump as
 * configured).
 *
 * The handler formats the line by hand into a static buffer and uses only
 * async-signal-safe calls, except dladdr() and backtrace(): the first call of
 * backtrace() loads libgcc_s, so cm_crash_install makes it once up front.
 */
#ifndef FLINC_COMMON_CRASH_H
#define FLINC_COMMON_CRASH_H

/*
 * Installs the handler process-wide (sigaction with SA_SIGINFO | SA_ONSTACK |
 * SA_RESETHAND) for SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT. A signal
 * that already has a handler (a sanitizer's, an embedding program's) keeps
 * it. Idempotent; call it early, from one thread (the client does, at
 * start). Returns 0, or the mapped errno if sigaction fails.
 */
int cm_crash_install(void);

/*
 * Gives the calling thread an alternate signal stack, so that a stack
 * overflow can still be reported. A thread that has one already keeps it.
 * Pair with cm_crash_thread_fini on the same thread before it exits.
 * Returns 0 or FL_ENOMEM (then the thread runs without one: a stack
 * overflow kills it without a line).
 */
int cm_crash_thread_init(void);
/* Removes and frees the stack cm_crash_thread_init gave this thread, if any. */
void cm_crash_thread_fini(void);

#endif
