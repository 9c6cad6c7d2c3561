/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hsm_load: a load client of writ-hsmd's socket API for the crash test and the
 * benchmark. N threads, each with its own connection, make device keys and CSRs in
 * process (or take them from a pool made before the clock starts) and ask for DACs
 * under one writ with fresh device UIDs until M have been issued or the HSM refuses
 * with WRIT_E_QUOTA. A lost connection (the daemon was killed) is retried with bounded
 * backoff, so a test may restart the daemon underneath. With --log every DAC received
 * is appended as one line "serial S sha256 H" in a single O_APPEND write() followed by
 * fsync(), so lines of different threads, and of runs that were killed, never mix and
 * a line in the log means the client really held that certificate. --seconds ends the
 * run after a fixed time instead (for benchmarks); --csr-pool K makes K CSRs up front so
 * that CSR creation is not measured.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "crypto/csr.h"
#include "crypto/ec.h"
#include "host/file.h"
#include "wire/hsmclient.h"

#define MAX_THREADS 256
#define MAX_PREFIX 16
#define MAX_REPORTED 5       /* refusal reasons printed before going quiet */
#define MAX_CONSECUTIVE 200  /* refusals in a row (other than quota) that end a thread */

struct cfg {
	const char *socket, *log;
	uint8_t writ_id[16];
	uint8_t prefix[MAX_PREFIX];
	size_t prefix_len;
	unsigned threads;
	uint64_t count;
	size_t pool_n;
	double reconnect_seconds;
	double seconds; /* stop after this long (0: no limit) */
};

struct csr_buf {
	uint8_t *der;
	size_t len;
};

static struct cfg cfg;
static struct csr_buf *pool;
static int log_fd = -1;

static atomic_uint_fast64_t claimed;  /* requests started or done that may yet succeed */
static atomic_uint_fast64_t issued, refused_quota, errors, reconnects, uid_counter, pool_next;
static atomic_int reported, gave_up;
static atomic_int stop_all; /* quota reached, or a signal */
static volatile sig_atomic_t signalled;
static pthread_barrier_t start_barrier;
static _Atomic double deadline; /* monotonic seconds; 0 until the clock starts */

static void on_signal(int sig)
{
	(void)sig;
	signalled = 1;
}

static double now_s(void);

static int stopping(void)
{
	return signalled || atomic_load(&stop_all) || (atomic_load(&deadline) > 0 && now_s() >= atomic_load(&deadline));
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !signalled)
		;
}

/* Take a ticket for one more DAC; 0 once count tickets are out. A failed request
 * gives its ticket back, so count is the number of DACs received, not attempted. */
static int claim(void)
{
	uint_fast64_t c = atomic_load(&claimed);

	do {
		if (c >= cfg.count)
			return 0;
	} while (!atomic_compare_exchange_weak(&claimed, &c, c + 1));
	return 1;
}

static void unclaim(void)
{
	atomic_fetch_sub(&claimed, 1);
}

static void report(const char *what, int err, const char *reason)
{
	if (atomic_fetch_add(&reported, 1) < MAX_REPORTED)
		fprintf(stderr, "hsm_load: %s: %s%s%s\n", what, writ_strerror(err), reason && reason[0] ? ": " : "",
			reason ? reason : "");
}

/* Connect, retrying with backoff (10 ms doubling to 250 ms) for at most
 * cfg.reconnect_seconds; negative when the budget is spent or we are told to stop. */
static int connect_retry(int *ret_fd)
{
	double give_up = now_s() + cfg.reconnect_seconds;
	unsigned delay = 10;
	int err;

	for (;;) {
		err = hsmc_connect(cfg.socket, ret_fd);
		if (err == 0)
			return 0;
		if (stopping() || now_s() >= give_up)
			return err;
		sleep_ms(delay);
		delay = delay * 2 > 250 ? 250 : delay * 2;
	}
}

static int make_csr(uint8_t **ret_der, size_t *ret_len)
{
	struct ec_soft_key *k = NULL;
	struct writ_signer s;
	int err;

	err = ec_soft_key_new(&k);
	if (err < 0)
		return err;
	ec_soft_signer(k, &s);
	err = csr_build_sign("hsm_load device", &s, ret_der, ret_len);
	ec_soft_key_free(k);
	return err;
}

/* One line per DAC, written whole with O_APPEND and made durable before we go on. */
static int log_dac(const struct hsmc_dac *d)
{
	uint8_t digest[32];
	char hex[65], line[128];
	int n;

	if (log_fd < 0)
		return 0;
	if (ec_sha256(d->dac, d->dac_len, digest) < 0)
		return WRIT_E_CRYPTO;
	hex_encode(digest, sizeof(digest), hex);
	n = snprintf(line, sizeof(line), "serial %" PRIu64 " sha256 %s\n", d->device_serial, hex);
	if (n < 0 || n >= (int)sizeof(line))
		return WRIT_E_TOOBIG;
	if (write(log_fd, line, (size_t)n) != n || fsync(log_fd) < 0)
		return WRIT_E_IO;
	return 0;
}

static void *worker(void *arg)
{
	uint8_t uid[MAX_PREFIX + 8], *own = NULL;
	size_t own_len = 0, uid_len = cfg.prefix_len + 8;
	unsigned consecutive = 0;
	int fd = -1, err, i;

	(void)arg;
	memcpy(uid, cfg.prefix, cfg.prefix_len);
	err = connect_retry(&fd);
	pthread_barrier_wait(&start_barrier);
	if (err < 0) {
		report("connect", err, cfg.socket);
		atomic_fetch_add(&gave_up, 1);
		return NULL;
	}
	while (!stopping() && claim()) {
		struct hsmc_dac d;
		char reason[HSMC_REASON_MAX] = "";
		const uint8_t *csr;
		size_t csr_len;
		uint64_t n = atomic_fetch_add(&uid_counter, 1) + 1;

		if (fd < 0 && connect_retry(&fd) < 0) {
			unclaim();
			report("reconnect", WRIT_E_IO, "gave up waiting for the daemon");
			atomic_fetch_add(&gave_up, 1);
			break;
		}
		for (i = 0; i < 8; i++)
			uid[cfg.prefix_len + (size_t)i] = (uint8_t)(n >> (56 - 8 * i));
		if (pool) {
			const struct csr_buf *c = &pool[atomic_fetch_add(&pool_next, 1) % cfg.pool_n];
			csr = c->der;
			csr_len = c->len;
		} else {
			free(own);
			own = NULL;
			if ((err = make_csr(&own, &own_len)) < 0) {
				unclaim();
				report("csr", err, NULL);
				atomic_fetch_add(&errors, 1);
				break;
			}
			csr = own;
			csr_len = own_len;
		}
		err = hsmc_issue_dac(fd, cfg.writ_id, csr, csr_len, uid, uid_len, &d, reason);
		if (err == 0) {
			consecutive = 0;
			atomic_fetch_add(&issued, 1);
			err = log_dac(&d);
			hsmc_dac_free(&d);
			if (err < 0) {
				report("log", err, cfg.log);
				atomic_store(&stop_all, 1);
				atomic_fetch_add(&errors, 1);
				break;
			}
			continue;
		}
		unclaim();
		if (err == WRIT_E_QUOTA) {
			atomic_fetch_add(&refused_quota, 1);
			atomic_store(&stop_all, 1);
			break;
		}
		atomic_fetch_add(&errors, 1);
		if (err == WRIT_E_IO || err == WRIT_E_PROTO) {
			/* the daemon went away mid-request: whatever it did is in its journal */
			close(fd);
			fd = -1;
			atomic_fetch_add(&reconnects, 1);
			continue;
		}
		report("issue refused", err, reason);
		if (++consecutive >= MAX_CONSECUTIVE) {
			atomic_fetch_add(&gave_up, 1);
			break;
		}
	}
	free(own);
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: hsm_load --socket S --writ HEXID --threads N --count M [--uid-prefix HEX]\n"
		   "                [--log FILE] [--csr-pool K] [--reconnect-seconds T] [--seconds T]\n");
}

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
		return -1;
	*ret = v;
	return 0;
}

static int parse_args(int argc, char **argv)
{
	static const struct option lo[] = { { "socket", 1, 0, 's' },	   { "writ", 1, 0, 'w' },
					    { "threads", 1, 0, 't' },	   { "count", 1, 0, 'c' },
					    { "uid-prefix", 1, 0, 'u' },   { "log", 1, 0, 'l' },
					    { "csr-pool", 1, 0, 'p' },	   { "reconnect-seconds", 1, 0, 'r' },
					    { "seconds", 1, 0, 'S' },
					    { "help", 0, 0, 'h' },	   { 0, 0, 0, 0 } };
	uint64_t v;
	int c, have_writ = 0, have_prefix = 0;

	cfg.reconnect_seconds = 30;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's': cfg.socket = optarg; break;
		case 'l': cfg.log = optarg; break;
		case 'w':
			if (hex_decode(optarg, cfg.writ_id, sizeof(cfg.writ_id)) < 0)
				return -1;
			have_writ = 1;
			break;
		case 'u':
			cfg.prefix_len = strlen(optarg) / 2;
			if (cfg.prefix_len > MAX_PREFIX || hex_decode(optarg, cfg.prefix, cfg.prefix_len) < 0)
				return -1;
			have_prefix = 1;
			break;
		case 't':
			if (parse_u64(optarg, 1, MAX_THREADS, &v) < 0)
				return -1;
			cfg.threads = (unsigned)v;
			break;
		case 'c':
			if (parse_u64(optarg, 1, UINT64_MAX / 2, &cfg.count) < 0)
				return -1;
			break;
		case 'p':
			if (parse_u64(optarg, 1, 1u << 20, &v) < 0)
				return -1;
			cfg.pool_n = (size_t)v;
			break;
		case 'r':
			if (parse_u64(optarg, 0, 3600, &v) < 0)
				return -1;
			cfg.reconnect_seconds = (double)v;
			break;
		case 'S':
			if (parse_u64(optarg, 1, 86400, &v) < 0)
				return -1;
			cfg.seconds = (double)v;
			break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (!cfg.socket || !have_writ || !cfg.threads || !cfg.count || optind != argc)
		return -1;
	if (!have_prefix) {
		/* a random prefix keeps UIDs of separate runs against one writ apart */
		cfg.prefix_len = 8;
		if (getrandom(cfg.prefix, cfg.prefix_len, 0) != (ssize_t)cfg.prefix_len)
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	pthread_t th[MAX_THREADS];
	struct sigaction sa;
	double t0, secs;
	unsigned i;
	int rc = 1;

	if (parse_args(argc, argv) < 0) {
		usage(stderr);
		return 2;
	}
	/* a write to a socket the daemon closed must be an error, not our death */
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (cfg.log) {
		log_fd = open(cfg.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (log_fd < 0) {
			fprintf(stderr, "hsm_load: cannot open %s: %s\n", cfg.log, strerror(errno));
			return 1;
		}
	}
	if (cfg.pool_n) {
		pool = calloc(cfg.pool_n, sizeof(*pool));
		if (!pool)
			goto out;
		for (i = 0; i < cfg.pool_n; i++) {
			if (make_csr(&pool[i].der, &pool[i].len) < 0) {
				fprintf(stderr, "hsm_load: cannot make a CSR\n");
				goto out;
			}
		}
	}
	/* the clock starts once every thread has its connection */
	if (pthread_barrier_init(&start_barrier, NULL, cfg.threads + 1) != 0)
		goto out;
	for (i = 0; i < cfg.threads; i++) {
		if (pthread_create(&th[i], NULL, worker, NULL) != 0) {
			/* the others wait at the barrier for this one: nothing sensible is left */
			fprintf(stderr, "hsm_load: cannot start thread %u\n", i);
			_exit(1);
		}
	}
	t0 = now_s();
	if (cfg.seconds > 0)
		atomic_store(&deadline, t0 + cfg.seconds);
	pthread_barrier_wait(&start_barrier);
	for (i = 0; i < cfg.threads; i++)
		pthread_join(th[i], NULL);
	secs = now_s() - t0;
	pthread_barrier_destroy(&start_barrier);
	fprintf(stderr, "hsm_load: reconnects=%" PRIu64 " threads_gave_up=%d\n", (uint64_t)atomic_load(&reconnects),
		atomic_load(&gave_up));
	printf("issued=%" PRIu64 " refused_quota=%" PRIu64 " errors=%" PRIu64 " seconds=%.3f rate=%.1f\n",
	       (uint64_t)atomic_load(&issued), (uint64_t)atomic_load(&refused_quota), (uint64_t)atomic_load(&errors),
	       secs, secs > 0 ? (double)atomic_load(&issued) / secs : 0.0);
	fflush(stdout);
	rc = atomic_load(&gave_up) == 0 ? 0 : 1;
out:
	for (i = 0; pool && i < cfg.pool_n; i++)
		free(pool[i].der);
	free(pool);
	if (log_fd >= 0)
		close(log_fd);
	return rc;
}
