/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Least privilege for writ's daemons (issue 8): no core dumps, no ptrace by other
 * processes of the same user, secrets kept out of swap, and a seccomp allow-list
 * installed once start-up is over. The policy, the profiles and the switches are in
 * docs/threat-model.md, "Least privilege"; the systemd units in dist/systemd/ apply the
 * same restrictions from outside.
 */
#ifndef WRIT_HOST_HARDEN_H
#define WRIT_HOST_HARDEN_H

#include <stddef.h>

#include "base/err.h"

/* Which allow-list a daemon gets. */
enum harden_profile {
	/* writ-hsmd: files, threads, AF_UNIX sockets only (no network: socket(AF_INET*)
	 * is refused with EAFNOSUPPORT); any syscall outside the list kills the process. */
	HARDEN_PROFILE_HSMD = 1,
	/* writ-factory, writ-cloud, writ-station: the same plus AF_INET/AF_INET6 clients
	 * and servers and AF_NETLINK route queries (getaddrinfo); a syscall outside the
	 * list fails with EPERM, and the always-forbidden ones (exec, ptrace, mount,
	 * module and kexec loading, bpf, ...) kill the process. */
	HARDEN_PROFILE_NET = 2,
};

/* First thing in main(): PR_SET_DUMPABLE 0 (no core dump, no ptrace or /proc/PID/mem
 * by the same uid) and RLIMIT_CORE 0. Cannot fail in a way worth stopping for: a
 * failure is logged. */
void harden_process(void);

/*
 * Lock [p, p + len) into RAM so a secret held there never reaches swap. Best effort:
 * WRIT_E_NOMEM when RLIMIT_MEMLOCK is too small (the caller logs it and goes on; the
 * units raise LimitMEMLOCK). The pages stay locked until exit: munlock works per page
 * and would also unlock a neighbour's secret, so there is no harden_munlock.
 */
WRIT_MUST_CHECK int harden_mlock(const void *p, size_t len);

/*
 * Install the seccomp allow-list of `profile` on every thread of the process (TSYNC)
 * and on all threads made later, with no_new_privs set. Call once, after start-up
 * (token open, files open). Returns 0 when installed, 1 when deliberately not installed
 * (disabled is set: --no-seccomp; or an AddressSanitizer build, whose LeakSanitizer
 * needs ptrace at exit), a negative error when the kernel or libseccomp refused it
 * (the daemon must then stop: it was asked to be confined and is not). Each case is
 * logged.
 *
 * After installing, if $WRIT_SECCOMP_SELFTEST is set, runs the self-test the hardening
 * tests use; harmless in production, it only reports or ends this process:
 *   "inet": try socket(AF_INET) and socket(AF_UNIX), log "seccomp self-test: ..."
 *           with each result, carry on;
 *   "kill": call execve("/bin/true"), which the filter answers by killing the process
 *           with SIGSYS (if it returns, log that and exit(3)).
 */
WRIT_MUST_CHECK int harden_seccomp(enum harden_profile profile, int disabled);

#endif
