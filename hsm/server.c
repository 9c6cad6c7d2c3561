/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-hsmd's Unix-socket server: one thread per connection, peer credentials checked
 * at accept, each request decoded strictly (hsmp_decode_request) and answered with a
 * status and a reason. A request that does not decode ends its connection.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "hsm/server.h"
#include "host/log.h"
#include "wire/cbu.h"
#include "wire/hsmproto.h"

#define MAX_CONNECTIONS 256

struct conn {
	struct server *srv;
	int fd;
	uid_t uid;
	pid_t pid;
};

static atomic_int n_conns;
static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static int peer_allowed(const struct server *srv, const struct ucred *cr)
{
	size_t i;

	if (cr->uid == geteuid())
		return 1;
	for (i = 0; i < srv->n_allow_uids; i++)
		if (srv->allow_uids[i] == cr->uid)
			return 1;
	for (i = 0; i < srv->n_allow_gids; i++)
		if (srv->allow_gids[i] == cr->gid)
			return 1;
	return 0;
}

static int send_map(int fd, cbor_item_t *m)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int err = cbu_serialize(m, &buf, &len);

	if (!err)
		err = hsmp_send(fd, buf, len);
	free(buf);
	return err;
}

static int send_error(int fd, int status, const char *reason)
{
	cbor_item_t *m = cbu_new_map(2);
	int err = WRIT_E_NOMEM;

	if (m && cbu_put_int(m, HSMP_RS_STATUS, status) == 0 && cbu_put_text(m, HSMP_RS_REASON, reason) == 0)
		err = send_map(fd, m);
	if (m)
		cbor_decref(&m);
	return err;
}

/* Handle one decoded request; returns the response map or NULL (out of memory). */
static cbor_item_t *dispatch(struct server *srv, const struct hsmp_request *rq)
{
	struct hsm *h = srv->hsm;
	char reason[HSM_REASON_MAX] = "";
	cbor_item_t *m = cbu_new_map(6), *arr = NULL;
	int err = 0;

	if (!m)
		return NULL;
	switch (rq->op) {
	case HSMP_OP_LOAD_WRIT: {
		uint8_t id[WRIT_ID_LEN];
		err = hsm_load_writ(h, rq->writ, rq->writ_len, id, reason);
		if (!err && cbu_put_bytes(m, HSMP_RS_WRIT_ID, id, sizeof(id)) < 0)
			goto nomem;
		break;
	}
	case HSMP_OP_ISSUE_DAC: {
		struct hsm_dac_result r;
		uint8_t pai[WRIT_PAI_MAX];
		size_t pai_len = 0;
		err = hsm_issue_dac(h, rq->writ_id, rq->csr, rq->csr_len, rq->uid, rq->uid_len, &r, reason);
		if (err)
			break;
		err = hsm_writ_pai(h, rq->writ_id, pai, sizeof(pai), &pai_len);
		if (err || cbu_put_bytes(m, HSMP_RS_DAC, r.dac, r.dac_len) < 0 ||
		    cbu_put_bytes(m, HSMP_RS_PAI, pai, pai_len) < 0 || cbu_put_uint(m, HSMP_RS_SERIAL, r.device_serial) < 0 ||
		    cbu_put_uint(m, HSMP_RS_SEQ, r.seq) < 0 || cbu_put_bytes(m, HSMP_RS_DAC_SERIAL, r.dac_serial, 12) < 0) {
			free(r.dac);
			goto nomem;
		}
		free(r.dac);
		break;
	}
	case HSMP_OP_STATUS:
		err = hsm_status(h, &arr);
		if (err || cbu_put_item(m, HSMP_RS_WRITS, arr) < 0 ||
		    cbu_put_uint(m, HSMP_RS_SEQ, journal_next_seq(h->journal)) < 0 ||
		    cbu_put_bytes(m, HSMP_RS_HSM_ID, h->hsm_id, WRIT_KEYID_LEN) < 0 ||
		    cbu_put_text(m, HSMP_RS_FACTORY, h->factory) < 0)
			goto nomem;
		break;
	case HSMP_OP_JOURNAL:
		err = journal_export(h->journal, rq->since, rq->max, &arr);
		if (err || cbu_put_item(m, HSMP_RS_ENTRIES, arr) < 0 ||
		    cbu_put_uint(m, HSMP_RS_SEQ, journal_next_seq(h->journal)) < 0)
			goto nomem;
		break;
	case HSMP_OP_ENROLMENT:
		if (!srv->enrolment) {
			err = WRIT_E_NOTFOUND;
			(void)!snprintf(reason, sizeof(reason), "no enrolment bundle in the state directory");
			break;
		}
		if (cbu_put_bytes(m, HSMP_RS_ENROLMENT, srv->enrolment, srv->enrolment_len) < 0)
			goto nomem;
		break;
	}
	if (arr)
		cbor_decref(&arr);
	if (err) {
		cbor_decref(&m);
		m = cbu_new_map(2);
		if (!m || cbu_put_int(m, HSMP_RS_STATUS, err) < 0 ||
		    cbu_put_text(m, HSMP_RS_REASON, reason[0] ? reason : writ_strerror(err)) < 0)
			goto nomem;
		return m;
	}
	if (cbu_put_int(m, HSMP_RS_STATUS, 0) < 0)
		goto nomem;
	return m;
nomem:
	if (arr)
		cbor_decref(&arr);
	if (m)
		cbor_decref(&m);
	return NULL;
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	uint8_t *buf = NULL;
	size_t len = 0;

	for (;;) {
		struct hsmp_request rq;
		cbor_item_t *resp;
		int rc = hsmp_recv(c->fd, HSMP_MAX_FRAME, &buf, &len);

		if (rc == 1)
			break; /* peer closed */
		if (rc < 0) {
			log_warn("client pid %d uid %d: %s; closing the connection", (int)c->pid, (int)c->uid,
				 writ_strerror(rc));
			if (rc == WRIT_E_TOOBIG)
				(void)send_error(c->fd, rc, "request frame too large");
			break;
		}
		rc = hsmp_decode_request(buf, len, &rq);
		free(buf);
		buf = NULL;
		if (rc < 0) {
			log_warn("client pid %d uid %d sent a malformed request; closing the connection", (int)c->pid,
				 (int)c->uid);
			(void)send_error(c->fd, WRIT_E_PROTO, "malformed request");
			break;
		}
		resp = dispatch(c->srv, &rq);
		hsmp_request_free(&rq);
		if (!resp) {
			(void)send_error(c->fd, WRIT_E_NOMEM, "out of memory");
			break;
		}
		rc = send_map(c->fd, resp);
		cbor_decref(&resp);
		if (rc < 0)
			break;
	}
	free(buf);
	close(c->fd);
	free(c);
	atomic_fetch_sub(&n_conns, 1);
	return NULL;
}

int server_run(struct server *srv, const char *socket_path)
{
	struct sockaddr_un addr;
	struct sigaction sa;
	int lfd, err = WRIT_E_IO;

	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	if (snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", socket_path) >= (int)sizeof(addr.sun_path)) {
		log_error("socket path %s is too long (max %zu bytes)", socket_path, sizeof(addr.sun_path) - 1);
		return WRIT_E_TOOBIG;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return WRIT_E_IO;
	(void)unlink(socket_path);
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || chmod(socket_path, 0660) < 0 ||
	    listen(lfd, 64) < 0) {
		log_error("cannot listen on %s: %s", socket_path, strerror(errno));
		goto out;
	}
	log_info("serving on %s", socket_path);
	while (!stop_flag) {
		struct pollfd pfd = { .fd = lfd, .events = POLLIN };
		struct ucred cr;
		socklen_t crl = sizeof(cr);
		struct conn *c;
		pthread_t t;
		pthread_attr_t attr;
		int fd;

		if (poll(&pfd, 1, 500) <= 0)
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crl) < 0 || !peer_allowed(srv, &cr)) {
			log_warn("refused a client (uid %d, pid %d): not an allowed user", (int)cr.uid, (int)cr.pid);
			(void)send_error(fd, WRIT_E_AUTH, "this user may not use writ-hsmd");
			close(fd);
			continue;
		}
		if (atomic_fetch_add(&n_conns, 1) >= MAX_CONNECTIONS) {
			atomic_fetch_sub(&n_conns, 1);
			(void)send_error(fd, WRIT_E_STATE, "too many connections; retry later");
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			atomic_fetch_sub(&n_conns, 1);
			close(fd);
			continue;
		}
		c->srv = srv;
		c->fd = fd;
		c->uid = cr.uid;
		c->pid = cr.pid;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, conn_main, c) != 0) {
			atomic_fetch_sub(&n_conns, 1);
			close(fd);
			free(c);
		}
		pthread_attr_destroy(&attr);
	}
	log_info("stopping: waiting for %d connections", atomic_load(&n_conns));
	/* let in-flight requests finish their journal writes before the journal closes */
	for (int i = 0; i < 100 && atomic_load(&n_conns) > 0; i++)
		usleep(20000);
	err = atomic_load(&n_conns) > 0 ? WRIT_E_STATE : 0;
out:
	close(lfd);
	(void)unlink(socket_path);
	return err;
}
