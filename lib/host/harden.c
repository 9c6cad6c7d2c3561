/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Least privilege for writ's daemons: core dumps off, secrets locked in RAM, and the
 * seccomp allow-lists (libseccomp) of harden.h. The lists name what glibc, OpenSSL,
 * SoftHSM, tpm2-pkcs11 (tpm2-tss, tpm2-abrmd's D-Bus TCTI), SQLite, libpq, libcurl
 * and libmicrohttpd were seen to need in the integration tests, and nothing that
 * changes who the process is (exec, ptrace, mount, namespaces, modules, keyrings,
 * the clock).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "host/harden.h"
#include "host/log.h"

/* libseccomp's SCMP_A0..SCMP_A5 leave datum_b out of their compound literals when a
 * comparison takes one datum; clang warns about it, gcc does not. */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wmissing-field-initializers"
#endif

#if defined(__SANITIZE_ADDRESS__)
#define HARDEN_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HARDEN_ASAN 1
#endif
#endif
#ifndef HARDEN_ASAN
#define HARDEN_ASAN 0
#endif

void harden_process(void)
{
	struct rlimit no_core = { 0, 0 };

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		log_warn("prctl(PR_SET_DUMPABLE, 0): %s", strerror(errno));
	if (setrlimit(RLIMIT_CORE, &no_core) < 0)
		log_warn("setrlimit(RLIMIT_CORE, 0): %s", strerror(errno));
}

int harden_mlock(const void *p, size_t len)
{
	if (!p || !len)
		return WRIT_E_INVAL;
	return mlock(p, len) == 0 ? 0 : WRIT_E_NOMEM;
}

/* Allowed in every profile. Names that do not exist on this architecture are skipped. */
static const char *const base_calls[] = {
	/* files (where they may be is the unit's business: ProtectSystem, StateDirectory) */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
	"close", "close_range", "lseek", "_llseek", "open", "openat", "openat2", "stat", "fstat", "lstat",
	"newfstatat", "fstatat64", "statx", "fstatfs", "statfs", "access", "faccessat", "faccessat2", "readlink",
	"readlinkat", "getdents", "getdents64", "getcwd", "mkdir", "mkdirat", "rename", "renameat", "renameat2",
	"unlink", "unlinkat", "rmdir", "chmod", "fchmod", "fchmodat", "ftruncate", "truncate", "fsync",
	"fdatasync", "flock", "fcntl", "fcntl64", "fadvise64", "fallocate", "dup", "dup2", "dup3", "pipe",
	"pipe2", "eventfd", "eventfd2",
	/* memory */
	"mmap", "mmap2", "munmap", "mprotect", "mremap", "madvise", "brk", "mlock", "mlock2", "munlock",
	"mincore", "membarrier",
	/* threads (clone is added with a CLONE_THREAD rule: no fork) */
	"futex", "futex_time64", "set_robust_list", "get_robust_list", "rseq", "set_tid_address", "exit",
	"exit_group", "gettid", "getpid", "getppid", "sched_yield", "sched_getaffinity",
	/* signals */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigtimedwait", "rt_sigtimedwait_time64",
	"rt_sigpending", "rt_sigsuspend", "sigaltstack", "restart_syscall", "pause",
	/* time, randomness */
	"clock_gettime", "clock_gettime64", "clock_getres", "clock_nanosleep", "clock_nanosleep_time64",
	"gettimeofday", "time", "nanosleep", "getrandom", "timerfd_create", "timerfd_settime", "timerfd_gettime",
	/* event loops and sockets (socket() itself is checked by family) */
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll",
	"ppoll_time64", "select", "pselect6", "pselect6_time64", "accept", "accept4", "getsockopt", "setsockopt",
	"getsockname", "getpeername", "sendto", "recvfrom", "sendmsg", "recvmsg", "shutdown", "bind", "listen",
	"connect",
	/* identity and limits, read only */
	"getuid", "geteuid", "getgid", "getegid", "getgroups", "getresuid", "getresgid", "umask", "prlimit64",
	"getrlimit", "ugetrlimit", "uname", "sysinfo", "getrusage",
};

/* Added for writ-factory, writ-cloud and writ-station. */
static const char *const net_calls[] = {
	"sendmmsg", "recvmmsg", "recvmmsg_time64", "fchown", "fchownat", "utimensat", "ioctl", "wait4",
};

/* Killed in every profile, whatever the default: what an attacker who runs code in the
 * process would reach for first. */
static const char *const kill_calls[] = {
	"execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2",
	"pivot_root", "chroot", "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
	"bpf", "perf_event_open", "reboot", "swapon", "swapoff", "setns", "unshare", "open_by_handle_at",
	"userfaultfd", "keyctl", "add_key", "request_key", "personality", "iopl", "ioperm", "settimeofday",
	"clock_settime", "clock_adjtime", "adjtimex", "setuid", "setgid", "setreuid", "setregid", "setresuid",
	"setresgid", "setgroups", "fork", "vfork",
};

static int add_list(scmp_filter_ctx ctx, uint32_t action, const char *const *names, size_t n)
{
	size_t i;
	int nr, r;

	for (i = 0; i < n; i++) {
		nr = seccomp_syscall_resolve_name(names[i]);
		if (nr == __NR_SCMP_ERROR)
			continue;
		/* -EACCES: the action is the filter's default already */
		r = seccomp_rule_add(ctx, action, nr, 0);
		if (r < 0 && r != -EEXIST && r != -EACCES) {
			log_error("seccomp: cannot add %s: %s", names[i], strerror(-r));
			return WRIT_E_INVAL;
		}
	}
	return 0;
}

#define RULE(ctx, act, name, ...)                                                                 \
	do {                                                                                      \
		int r_ = seccomp_rule_add((ctx), (act), SCMP_SYS(name), __VA_ARGS__);            \
		if (r_ < 0 && r_ != -EACCES) {                                                    \
			log_error("seccomp: cannot add a rule for %s: %s", #name, strerror(-r_)); \
			goto fail;                                                                \
		}                                                                                 \
	} while (0)

static int build_filter(enum harden_profile profile, scmp_filter_ctx *ret_ctx)
{
	const int net = profile == HARDEN_PROFILE_NET;
	scmp_filter_ctx ctx;
	pid_t self = getpid();

	/* the key holder fails closed; the others fail one call (docs/threat-model.md) */
	ctx = seccomp_init(net ? SCMP_ACT_ERRNO(EPERM) : SCMP_ACT_KILL_PROCESS);
	if (!ctx)
		return WRIT_E_NOMEM;
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) < 0 || seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1) < 0)
		goto fail;
	if (add_list(ctx, SCMP_ACT_ALLOW, base_calls, sizeof(base_calls) / sizeof(base_calls[0])) < 0)
		goto fail;
	if (net && add_list(ctx, SCMP_ACT_ALLOW, net_calls, sizeof(net_calls) / sizeof(net_calls[0])) < 0)
		goto fail;
	if (add_list(ctx, SCMP_ACT_KILL_PROCESS, kill_calls, sizeof(kill_calls) / sizeof(kill_calls[0])) < 0)
		goto fail;

	/* threads only: a clone without CLONE_THREAD is a fork. clone3 passes its flags in
	 * memory a filter cannot read, so it answers ENOSYS and glibc falls back to clone. */
	RULE(ctx, SCMP_ACT_ALLOW, clone, 1, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	RULE(ctx, SCMP_ACT_ERRNO(ENOSYS), clone3, 0);
	/* signals to this process only (raise, abort, pthread_kill) */
	RULE(ctx, SCMP_ACT_ALLOW, tgkill, 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self));
	/* prctl, but never to make the process dumpable again */
	RULE(ctx, SCMP_ACT_ALLOW, prctl, 1, SCMP_A0(SCMP_CMP_NE, PR_SET_DUMPABLE));
	RULE(ctx, SCMP_ACT_ERRNO(EPERM), prctl, 1, SCMP_A0(SCMP_CMP_EQ, PR_SET_DUMPABLE));

	/* sockets by family: writ-hsmd takes no network input */
	RULE(ctx, SCMP_ACT_ALLOW, socket, 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
	RULE(ctx, SCMP_ACT_ALLOW, socketpair, 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
	if (net) {
		RULE(ctx, SCMP_ACT_ALLOW, socket, 1, SCMP_A0(SCMP_CMP_EQ, AF_INET));
		RULE(ctx, SCMP_ACT_ALLOW, socket, 1, SCMP_A0(SCMP_CMP_EQ, AF_INET6));
		RULE(ctx, SCMP_ACT_ALLOW, socket, 2, SCMP_A0(SCMP_CMP_EQ, AF_NETLINK),
		     SCMP_A2(SCMP_CMP_EQ, NETLINK_ROUTE));
	} else {
		RULE(ctx, SCMP_ACT_ERRNO(EPERM), socket, 1, SCMP_A0(SCMP_CMP_NE, AF_UNIX));
		RULE(ctx, SCMP_ACT_ERRNO(EPERM), socketpair, 1, SCMP_A0(SCMP_CMP_NE, AF_UNIX));
		/* what glibc's stdio and isatty() ask; any other ioctl is outside the list */
		RULE(ctx, SCMP_ACT_ALLOW, ioctl, 1, SCMP_A1(SCMP_CMP_EQ, TCGETS));
		RULE(ctx, SCMP_ACT_ALLOW, ioctl, 1, SCMP_A1(SCMP_CMP_EQ, FIONBIO));
		RULE(ctx, SCMP_ACT_ALLOW, ioctl, 1, SCMP_A1(SCMP_CMP_EQ, FIONREAD));
		RULE(ctx, SCMP_ACT_ALLOW, ioctl, 1, SCMP_A1(SCMP_CMP_EQ, FIOCLEX));
		/* SQLite (tpm2-pkcs11's store) running as root gives a new journal file the
		 * database's owner; it ignores the result, so EPERM is harmless (and the
		 * packaged daemon is not root) */
		RULE(ctx, SCMP_ACT_ERRNO(EPERM), fchown, 0);
		RULE(ctx, SCMP_ACT_ERRNO(EPERM), fchownat, 0);
	}
	*ret_ctx = ctx;
	return 0;
fail:
	seccomp_release(ctx);
	return WRIT_E_INVAL;
}

static void selftest(void)
{
	const char *mode = getenv("WRIT_SECCOMP_SELFTEST");
	static const int fams[] = { AF_INET, AF_INET6, AF_UNIX };
	static const char *const fam_names[] = { "AF_INET", "AF_INET6", "AF_UNIX" };
	size_t i;

	if (!mode || !*mode)
		return;
	if (!strcmp(mode, "inet")) {
		for (i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
			int fd = socket(fams[i], SOCK_STREAM | SOCK_CLOEXEC, 0), e = errno;
			if (fd >= 0) {
				log_info("seccomp self-test: socket(%s) allowed", fam_names[i]);
				close(fd);
			} else {
				log_info("seccomp self-test: socket(%s) refused: %s (errno %d)", fam_names[i], strerror(e), e);
			}
		}
	} else if (!strcmp(mode, "kill")) {
		char *const argv[] = { (char *)"true", NULL };
		log_info("seccomp self-test: calling execve(\"/bin/true\"); the filter must kill this process");
		(void)execve("/bin/true", argv, NULL);
		log_error("seccomp self-test: execve returned (%s): the filter did not kill the process", strerror(errno));
		_exit(3);
	} else {
		log_warn("seccomp self-test: unknown mode \"%s\" (inet or kill)", mode);
	}
}

int harden_seccomp(enum harden_profile profile, int disabled)
{
	const char *name = profile == HARDEN_PROFILE_HSMD ? "hsmd" : "net";
	scmp_filter_ctx ctx = NULL;
	int r;

	if (disabled) {
		log_warn("seccomp: not installed (--no-seccomp): for debugging only");
		selftest();
		return 1;
	}
	if (HARDEN_ASAN) {
		log_warn("seccomp: not installed: this is an ASan build (its leak checker needs ptrace "
			 "and threads at exit); the filter is tested in the normal build");
		selftest();
		return 1;
	}
	if ((r = build_filter(profile, &ctx)) < 0)
		return r;
	r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0) {
		log_error("seccomp: the kernel refused the %s filter: %s", name, strerror(-r));
		return WRIT_E_UNSUPPORTED;
	}
	log_info("seccomp: %s allow-list installed (outside it: %s)", name,
		 profile == HARDEN_PROFILE_HSMD ? "the process is killed" : "EPERM, or killed for exec/ptrace/mount/...");
	selftest();
	return 0;
}
