/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-hsmd's Unix-socket server. Peer credentials are checked at accept; each
 * accepted connection is handed to one of a few worker threads (one per CPU),
 * each running an epoll loop over its connections with non-blocking sockets, so a
 * client that stalls mid-frame holds up nobody.
 *
 * A worker takes at most one request per connection per round. DAC requests of a
 * round are prepared (checked, counted, signed) one after the other and queued in the
 * journal together as one batch, which goes to the committer thread: it waits for the
 * disk (one fdatasync for every batch queued meanwhile), counts the DACs and hands the
 * batch back to its worker through an eventfd; the certificates leave only then. The
 * worker goes on with other connections while the disk syncs, so one worker per CPU
 * keeps every CPU on cryptography. A connection with a DAC in flight gives no further
 * request until it is answered: answers keep their order. Other requests are answered
 * at once. A request that does not decode is answered with WRIT_E_PROTO and ends its
 * connection; a frame longer than HSMP_MAX_FRAME with WRIT_E_TOOBIG, likewise.
 *
 * Why not a thread per connection: on a small machine, sixteen threads waking each
 * other for every request cost more CPU than the cryptography.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "hsm/server.h"
#include "host/log.h"
#include "wire/cbu.h"
#include "wire/hsmproto.h"

#define MAX_CONNECTIONS 256
#define MAX_WORKERS 16
#define EVENTS_MAX 64
#define IN_CAP (HSMP_MAX_FRAME + 4)

struct worker;

struct conn {
	int fd;
	uid_t uid;
	pid_t pid;
	struct worker *w;
	uint8_t *in;    /* received bytes not yet consumed, IN_CAP bytes */
	size_t in_len;
	uint8_t *out;   /* framed responses not yet written */
	size_t out_len, out_off, out_cap;
	int closing;    /* close once out is flushed */
	int eof;        /* the peer shut its side: serve what is buffered, then close */
	int dead;       /* closed this round; freed at its end */
	int want_out;   /* registered for EPOLLOUT */
	int muted;      /* EPOLLIN dropped while a DAC is in flight (the peer sent more or hung up half) */
	struct conn *next_dead, *next_ready;
	int in_ready;   /* on the worker's ready list */
	int pending;    /* a DAC of this connection is with the committer: freed only after */
	unsigned long round; /* the worker round that last took a request from it */
};

struct batch;

struct worker {
	struct server *srv;
	struct committer *cm;
	pthread_t thread;
	int ep;
	int efd;            /* eventfd: the committer handed batches back (done) */
	struct batch *done; /* guarded by lock */
	struct batch *spare; /* a free batch, worker-owned */
	size_t outstanding; /* batches with the committer, worker-owned */
	struct conn *ready; /* connections with a complete frame still buffered */
	unsigned long round;
	struct conn *dead;
	pthread_mutex_t lock;                /* guards conns: the acceptor adds, the worker removes */
	struct conn *conns[MAX_CONNECTIONS]; /* every open connection, for shutdown */
	size_t n_conns;
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

/* ---- output ---- */

/* Append one framed response to c->out. */
static int queue_map(struct conn *c, const cbor_item_t *m)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int err = cbu_serialize(m, &buf, &len);

	if (err < 0)
		return err;
	if (len > HSMP_MAX_FRAME) {
		free(buf);
		return WRIT_E_TOOBIG;
	}
	if (c->out_len + 4 + len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		uint8_t *n;
		while (cap < c->out_len + 4 + len)
			cap *= 2;
		n = realloc(c->out, cap);
		if (!n) {
			free(buf);
			return WRIT_E_NOMEM;
		}
		c->out = n;
		c->out_cap = cap;
	}
	c->out[c->out_len] = (uint8_t)(len >> 24);
	c->out[c->out_len + 1] = (uint8_t)(len >> 16);
	c->out[c->out_len + 2] = (uint8_t)(len >> 8);
	c->out[c->out_len + 3] = (uint8_t)len;
	memcpy(c->out + c->out_len + 4, buf, len);
	c->out_len += 4 + len;
	free(buf);
	return 0;
}

static void queue_error(struct conn *c, int status, const char *reason)
{
	cbor_item_t *m = cbu_new_map(2);

	if (m && cbu_put_int(m, HSMP_RS_STATUS, status) == 0 && cbu_put_text(m, HSMP_RS_REASON, reason) == 0 &&
	    queue_map(c, m) == 0) {
		cbor_decref(&m);
		return;
	}
	if (m)
		cbor_decref(&m);
	c->closing = 1; /* cannot even say why: hang up */
}

static void conns_remove(struct worker *w, struct conn *c)
{
	size_t i;

	pthread_mutex_lock(&w->lock);
	for (i = 0; i < w->n_conns; i++) {
		if (w->conns[i] == c) {
			w->conns[i] = w->conns[--w->n_conns];
			break;
		}
	}
	pthread_mutex_unlock(&w->lock);
}

static void conn_close(struct conn *c)
{
	struct worker *w = c->w;

	if (c->dead)
		return;
	epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->dead = 1;
	c->next_dead = w->dead;
	w->dead = c;
	conns_remove(w, c);
	atomic_fetch_sub(&n_conns, 1);
}

/* What epoll reports for c: input unless muted, writability while output waits. */
static void watch(struct conn *c)
{
	struct epoll_event ev = { .events = (c->muted ? 0 : EPOLLIN) | (c->want_out ? EPOLLOUT : 0), .data.ptr = c };

	epoll_ctl(c->w->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Write what can be written without blocking; watch for writability otherwise. */
static void flush(struct conn *c)
{
	while (!c->dead && c->out_off < c->out_len) {
		ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			conn_close(c);
			return;
		}
		c->out_off += (size_t)n;
	}
	if (c->dead)
		return;
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		if (c->closing && !c->pending) {
			conn_close(c);
			return;
		}
	}
	if ((c->out_len > 0) != c->want_out) {
		c->want_out = c->out_len > 0;
		watch(c);
	}
}

/* ---- input ---- */

/* Read what is available. 0 on progress or nothing to read, negative when the peer
 * is gone. */
static int fill(struct conn *c)
{
	while (c->in_len < IN_CAP) {
		ssize_t n = read(c->fd, c->in + c->in_len, IN_CAP - c->in_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n == 0) {
			c->eof = 1; /* serve complete frames already here, then close */
			return 0;
		}
		if (n < 0)
			return -1;
		c->in_len += (size_t)n;
	}
	return 0;
}

/* The length of the first complete frame's payload, 0 if none is complete yet, or a
 * negative error for a frame that can never be valid. */
static long frame_ready(const struct conn *c)
{
	size_t len;

	if (c->in_len < 4)
		return 0;
	len = (size_t)c->in[0] << 24 | (size_t)c->in[1] << 16 | (size_t)c->in[2] << 8 | c->in[3];
	if (len > HSMP_MAX_FRAME)
		return WRIT_E_TOOBIG;
	if (len == 0)
		return WRIT_E_PROTO;
	return c->in_len - 4 >= len ? (long)len : 0;
}

static void consume(struct conn *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
}

/* ---- requests ---- */

static int put_dac(cbor_item_t *m, struct hsm *h, const uint8_t writ_id[WRIT_ID_LEN], const struct hsm_dac_result *r)
{
	uint8_t pai[WRIT_PAI_MAX];
	size_t pai_len = 0;

	if (hsm_writ_pai(h, writ_id, pai, sizeof(pai), &pai_len) < 0 ||
	    cbu_put_bytes(m, HSMP_RS_DAC, r->dac, r->dac_len) < 0 || cbu_put_bytes(m, HSMP_RS_PAI, pai, pai_len) < 0 ||
	    cbu_put_uint(m, HSMP_RS_SERIAL, r->device_serial) < 0 || cbu_put_uint(m, HSMP_RS_SEQ, r->seq) < 0 ||
	    cbu_put_bytes(m, HSMP_RS_DAC_SERIAL, r->dac_serial, 12) < 0 || cbu_put_int(m, HSMP_RS_STATUS, 0) < 0 ||
	    (r->reissued && cbu_put_uint(m, HSMP_RS_REISSUED, 1) < 0))
		return WRIT_E_NOMEM;
	return 0;
}

/* Answer a request other than a DAC (those go into the round's batch): the response
 * map, or NULL (out of memory). */
static cbor_item_t *answer(struct server *srv, const struct hsmp_request *rq)
{
	struct hsm *h = srv->hsm;
	char reason[HSM_REASON_MAX] = "";
	cbor_item_t *m = cbu_new_map(7), *arr = NULL;
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
	case HSMP_OP_WRAP_SECRET: {
		uint8_t wrapped[HSMP_WRAPPED_MAX];
		size_t wlen = 0;
		uint64_t seq = 0;
		err = hsm_wrap_secret(h, rq->writ_id, rq->uid, rq->dac, rq->dac_len, rq->enc_pub, rq->binding,
				      rq->binding_len, rq->label, rq->label_len, wrapped, &wlen, &seq, reason);
		if (!err && (cbu_put_bytes(m, HSMP_RS_WRAPPED, wrapped, wlen) < 0 || cbu_put_uint(m, HSMP_RS_SEQ, seq) < 0))
			goto nomem;
		break;
	}
	case HSMP_OP_CHECKPOINT: {
		uint64_t next = 0, cp = 0;
		err = hsm_checkpoint(h, &next, &cp, reason);
		if (!err && (cbu_put_uint(m, HSMP_RS_SEQ, next) < 0 || cbu_put_uint(m, HSMP_RS_CHECKPOINT, cp) < 0))
			goto nomem;
		break;
	}
	case HSMP_OP_DEBUG_TOKEN: {
		struct hsm_debug_result d;
		size_t i;
		err = hsm_debug_token(h, rq->writ_id, rq->uid, rq->challenge, rq->perms, rq->session, rq->dbg_op, &d,
				      reason);
		if (err)
			break;
		if (!(arr = cbor_new_definite_array(d.n_chain)))
			goto nomem;
		for (i = 0; i < d.n_chain; i++) {
			cbor_item_t *c = cbor_build_bytestring(d.chain[i], WRIT_DBG_CERT_LEN);
			int ok = c && cbor_array_push(arr, c);
			if (c)
				cbor_decref(&c);
			if (!ok)
				goto nomem;
		}
		if (cbu_put_bytes(m, HSMP_RS_TOKEN, d.token, sizeof(d.token)) < 0 || cbu_put_item(m, HSMP_RS_CHAIN, arr) < 0 ||
		    cbu_put_int(m, HSMP_RS_NOT_AFTER, d.not_after) < 0 || cbu_put_uint(m, HSMP_RS_SEQ, d.seq) < 0)
			goto nomem;
		break;
	}
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

struct batch {
	struct batch *next;
	struct worker *w;
	uint64_t last; /* the journal seq to wait for */
	int err;
	char reason[HSM_REASON_MAX];
	struct hsm_dac_pending pd[HSM_COMMIT_MAX];
	struct hsm_dac_pending *ptr[HSM_COMMIT_MAX];
	struct conn *conn[HSM_COMMIT_MAX];
	uint8_t writ_id[HSM_COMMIT_MAX][WRIT_ID_LEN];
	size_t n;
};

/* The committer: one thread that waits for the disk on behalf of every worker. */
struct committer {
	struct hsm *hsm;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct batch *head, **tail;
	int stop;
};

static void *committer_main(void *arg)
{
	struct committer *cm = arg;

	for (;;) {
		struct batch *list, *b, *next;
		uint64_t last = 0;
		int err, any = 0;

		pthread_mutex_lock(&cm->lock);
		while (!cm->head && !cm->stop)
			pthread_cond_wait(&cm->cv, &cm->lock);
		list = cm->head;
		cm->head = NULL;
		cm->tail = &cm->head;
		pthread_mutex_unlock(&cm->lock);
		if (!list)
			break; /* stopped, and every worker's batches came back */
		/* one wait covers every batch taken: the journal syncs in seq order */
		for (b = list; b; b = b->next)
			if (b->last != JOURNAL_NONE && (!any || b->last > last)) {
				last = b->last;
				any = 1;
			}
		err = any ? hsm_dac_wait(cm->hsm, last) : 0;
		for (b = list; b; b = next) {
			struct worker *w = b->w;
			uint64_t one = 1;
			next = b->next;
			b->err = hsm_dac_finish(cm->hsm, b->ptr, b->n, err, b->reason);
			pthread_mutex_lock(&w->lock);
			b->next = w->done;
			w->done = b;
			pthread_mutex_unlock(&w->lock);
			(void)!write(w->efd, &one, sizeof(one));
		}
	}
	return NULL;
}

/* Answer each DAC of a batch the committer handed back, and free it. */
static void answer_batch(struct worker *w, struct batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		struct conn *c = b->conn[i];
		cbor_item_t *m = NULL;
		c->pending = 0;
		if (b->err) {
			if (!c->dead)
				queue_error(c, b->err, b->reason);
		} else if (!c->dead) {
			m = cbu_new_map(7);
			if (!m || put_dac(m, w->srv->hsm, b->writ_id[i], &b->pd[i].result) < 0 || queue_map(c, m) < 0)
				queue_error(c, WRIT_E_NOMEM, "out of memory");
		}
		if (m)
			cbor_decref(&m);
		free(b->pd[i].result.dac);
		b->pd[i].result.dac = NULL;
	}
}

static void mark_ready(struct worker *w, struct conn *c);

/* The batches the committer handed back: answer them, flush, and let their
 * connections give their next request. */
static void take_done(struct worker *w)
{
	struct batch *list, *b, *next;
	uint64_t v;
	size_t i;

	(void)!read(w->efd, &v, sizeof(v));
	pthread_mutex_lock(&w->lock);
	list = w->done;
	w->done = NULL;
	pthread_mutex_unlock(&w->lock);
	for (b = list; b; b = next) {
		next = b->next;
		answer_batch(w, b);
		for (i = 0; i < b->n; i++) {
			struct conn *c = b->conn[i];
			if (c->dead)
				continue;
			if (c->muted) {
				c->muted = 0;
				watch(c);
			}
			if (c->eof && frame_ready(c) == 0)
				c->closing = 1;
			flush(c);
			/* one touched this round is marked after its round's requests, when nothing
			 * can close it any more: marked now, it could be freed while listed */
			if (!c->dead && c->round != w->round)
				mark_ready(w, c);
		}
		w->outstanding--;
		if (!w->spare) {
			w->spare = b;
		} else {
			free(b);
		}
	}
}

/* The round's DACs: queued in the journal and handed to the committer, or, if they
 * could not be queued, answered at once with the reason. */
static void submit(struct worker *w, struct batch **pb)
{
	struct batch *b = *pb, *nb;
	struct committer *cm = w->cm;
	size_t i;
	int err;

	if (b->n == 0)
		return;
	nb = w->spare ? w->spare : malloc(sizeof(*nb));
	if (!nb) {
		/* no batch for the next round: this one waits here instead of with the committer */
		err = hsm_dac_commit(w->srv->hsm, b->ptr, b->n, b->reason);
		b->err = err;
		for (i = 0; i < b->n; i++)
			b->conn[i]->pending = 1;
		answer_batch(w, b);
		b->n = 0;
		return;
	}
	w->spare = NULL;
	for (i = 0; i < b->n; i++)
		b->conn[i]->pending = 1;
	err = hsm_dac_submit(w->srv->hsm, b->ptr, b->n, &b->last);
	if (err == 0 && b->last == JOURNAL_NONE)
		err = WRIT_E_STATE; /* nothing journalled: nothing may be released */
	if (err < 0) {
		/* what was queued becomes durable whatever happened after it; none is released */
		(void)hsm_dac_wait(w->srv->hsm, b->last);
		b->err = hsm_dac_finish(w->srv->hsm, b->ptr, b->n, err, b->reason);
		answer_batch(w, b);
		b->n = 0;
		w->spare = nb;
		return;
	}
	b->w = w;
	b->next = NULL;
	pthread_mutex_lock(&cm->lock);
	*cm->tail = b;
	cm->tail = &b->next;
	pthread_cond_signal(&cm->cv);
	pthread_mutex_unlock(&cm->lock);
	w->outstanding++;
	nb->n = 0;
	*pb = nb;
}

/* Take at most one request from c. DAC requests go into the batch. */
static void serve_one(struct worker *w, struct conn *c, struct batch *b)
{
	struct hsmp_request rq;
	char reason[HSM_REASON_MAX] = "";
	long len = frame_ready(c);
	cbor_item_t *m;
	int err;

	if (c->dead || c->closing || c->pending || len == 0)
		return;
	if (len < 0) {
		log_warn("client pid %d uid %d: %s; closing the connection", (int)c->pid, (int)c->uid,
			 writ_strerror((int)len));
		if (len == WRIT_E_TOOBIG)
			queue_error(c, WRIT_E_TOOBIG, "request frame too large");
		c->in_len = 0;
		c->closing = 1;
		return;
	}
	err = hsmp_decode_request(c->in + 4, (size_t)len, &rq);
	consume(c, 4 + (size_t)len);
	if (err < 0) {
		log_warn("client pid %d uid %d sent a malformed request; closing the connection", (int)c->pid,
			 (int)c->uid);
		queue_error(c, WRIT_E_PROTO, "malformed request");
		c->in_len = 0;
		c->closing = 1;
		return;
	}
	if (rq.op == HSMP_OP_ISSUE_DAC) { /* the round stops taking requests once b is full */
		err = hsm_dac_prepare(w->srv->hsm, rq.writ_id, rq.csr, rq.csr_len, rq.uid, rq.uid_len, &b->pd[b->n],
				      reason);
		if (err == 0) {
			b->ptr[b->n] = &b->pd[b->n];
			b->conn[b->n] = c;
			memcpy(b->writ_id[b->n], rq.writ_id, WRIT_ID_LEN);
			b->n++;
		} else {
			queue_error(c, err, reason);
		}
		hsmp_request_free(&rq);
		return;
	}
	m = answer(w->srv, &rq);
	hsmp_request_free(&rq);
	if (!m) {
		queue_error(c, WRIT_E_NOMEM, "out of memory");
		c->closing = 1;
		return;
	}
	if (queue_map(c, m) < 0)
		c->closing = 1;
	cbor_decref(&m);
}

static void mark_ready(struct worker *w, struct conn *c)
{
	if (!c->in_ready && !c->dead && !c->closing && !c->pending && c->out_len == 0 && frame_ready(c) != 0) {
		c->in_ready = 1;
		c->next_ready = w->ready;
		w->ready = c;
	}
}

/* Free the connections closed so far, except those with a DAC still in flight (the
 * committer's batch points at them): they go when it comes back. */
static void free_dead(struct worker *w)
{
	struct conn **pp = &w->dead;

	while (*pp) {
		struct conn *c = *pp;
		if (c->pending || c->in_ready) {
			pp = &c->next_dead;
			continue;
		}
		*pp = c->next_dead;
		free(c->in);
		free(c->out);
		free(c);
	}
}

static char done_tag; /* epoll data of the worker's eventfd */

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event ev[EVENTS_MAX];
	struct conn *touched[EVENTS_MAX + MAX_CONNECTIONS];
	struct batch *b = calloc(1, sizeof(*b));
	size_t nt, i;

	if (!b) {
		log_error("worker: out of memory");
		return NULL;
	}
	while (!stop_flag) {
		struct conn *ready = w->ready;
		int n = epoll_wait(w->ep, ev, EVENTS_MAX, ready ? 0 : 500), done = 0;

		nt = 0;
		w->ready = NULL;
		w->round++;
		/* connections that still held a complete frame from the last round; each
		 * connection is touched once a round, so its answers keep their order */
		for (; ready; ready = ready->next_ready) {
			ready->in_ready = 0;
			ready->round = w->round;
			touched[nt++] = ready;
		}
		for (i = 0; n > 0 && i < (size_t)n; i++) {
			struct conn *c = ev[i].data.ptr;
			if (ev[i].data.ptr == &done_tag) {
				done = 1;
				continue;
			}
			if (c->dead)
				continue;
			if (c->pending && (ev[i].events & (EPOLLHUP | EPOLLERR))) {
				conn_close(c); /* gone both ways: its answer has nowhere to go */
				continue;
			}
			if (ev[i].events & EPOLLOUT)
				flush(c);
			if (!c->dead && (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && fill(c) < 0) {
				conn_close(c);
				continue;
			}
			if (c->eof && frame_ready(c) == 0 && c->out_len == 0 && !c->pending) {
				conn_close(c); /* gone, with nothing or half a frame left */
				continue;
			}
			if (c->pending && !c->muted) {
				/* more input, or end of input, before its DAC is answered: stop
				 * watching input until then, or every round would wake for it */
				c->muted = 1;
				watch(c);
			}
			if (c->round != w->round) {
				c->round = w->round;
				touched[nt++] = c;
			}
		}
		if (done)
			take_done(w);
		/* a full batch ends the round's requests: the rest stay buffered, their
		 * connections are marked ready below and served next round (not one by one
		 * with a wait for the disk each) */
		for (i = 0; i < nt && b->n < HSM_COMMIT_MAX; i++)
			if (!touched[i]->dead && touched[i]->out_len == 0) /* answered first */
				serve_one(w, touched[i], b);
		submit(w, &b);
		for (i = 0; i < nt; i++) {
			if (touched[i]->dead)
				continue;
			if (touched[i]->eof && frame_ready(touched[i]) == 0)
				touched[i]->closing = 1;
			flush(touched[i]);
			if (!touched[i]->dead)
				mark_ready(w, touched[i]);
		}
		free_dead(w);
	}
	/* stopping: the DACs with the committer are answered before anything closes */
	while (w->outstanding) {
		struct pollfd pfd = { .fd = w->efd, .events = POLLIN };
		if (poll(&pfd, 1, 500) > 0)
			take_done(w);
	}
	for (; w->ready; w->ready = w->ready->next_ready)
		w->ready->in_ready = 0;
	for (;;) {
		struct conn *c = NULL;
		pthread_mutex_lock(&w->lock);
		if (w->n_conns)
			c = w->conns[0];
		pthread_mutex_unlock(&w->lock);
		if (!c)
			break;
		conn_close(c);
	}
	free_dead(w);
	free(w->spare);
	free(b);
	return NULL;
}

/* Refuse a connection with one frame written on the blocking socket. */
static void refuse_conn(int fd, int status, const char *reason)
{
	cbor_item_t *m = cbu_new_map(2);
	uint8_t *buf = NULL;
	size_t len = 0;

	if (m && cbu_put_int(m, HSMP_RS_STATUS, status) == 0 && cbu_put_text(m, HSMP_RS_REASON, reason) == 0 &&
	    cbu_serialize(m, &buf, &len) == 0)
		(void)!hsmp_send(fd, buf, len);
	free(buf);
	if (m)
		cbor_decref(&m);
	close(fd);
}

int server_run(struct server *srv, const char *socket_path)
{
	struct worker *workers = NULL;
	struct committer cm;
	struct sockaddr_un addr;
	struct sigaction sa;
	size_t nw, i, next = 0, started = 0;
	int lfd, err = WRIT_E_IO;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

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

	/* one per CPU: the committer waits for the disk, so a worker never stops for it
	 * (with the wait in the workers it took two per CPU, and their switching cost
	 * ~15 % of the CPU per DAC) */
	nw = srv->workers ? srv->workers : (size_t)(ncpu > 0 ? ncpu : 1);
	if (nw > MAX_WORKERS)
		nw = MAX_WORKERS;
	workers = calloc(nw, sizeof(*workers));
	if (!workers)
		return WRIT_E_NOMEM;
	memset(&cm, 0, sizeof(cm));
	cm.hsm = srv->hsm;
	cm.tail = &cm.head;
	pthread_mutex_init(&cm.lock, NULL);
	pthread_cond_init(&cm.cv, NULL);
	if (pthread_create(&cm.thread, NULL, committer_main, &cm) != 0) {
		log_error("cannot start the committer");
		pthread_cond_destroy(&cm.cv);
		pthread_mutex_destroy(&cm.lock);
		free(workers);
		return WRIT_E_NOMEM;
	}
	for (i = 0; i < nw; i++) {
		struct epoll_event eev = { .events = EPOLLIN, .data.ptr = &done_tag };
		workers[i].srv = srv;
		workers[i].cm = &cm;
		workers[i].efd = -1;
		pthread_mutex_init(&workers[i].lock, NULL);
		workers[i].ep = epoll_create1(EPOLL_CLOEXEC);
		if (workers[i].ep >= 0)
			workers[i].efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (workers[i].ep < 0 || workers[i].efd < 0 ||
		    epoll_ctl(workers[i].ep, EPOLL_CTL_ADD, workers[i].efd, &eev) < 0 ||
		    pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
			log_error("cannot start worker %zu", i);
			stop_flag = 1;
			goto out;
		}
		started++;
	}

	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		goto out;
	(void)unlink(socket_path);
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || chmod(socket_path, 0660) < 0 ||
	    listen(lfd, 64) < 0) {
		log_error("cannot listen on %s: %s", socket_path, strerror(errno));
		close(lfd);
		stop_flag = 1;
		goto out;
	}
	log_info("serving on %s with %zu workers", socket_path, nw);
	while (!stop_flag) {
		struct pollfd pfd = { .fd = lfd, .events = POLLIN };
		struct ucred cr;
		socklen_t crl = sizeof(cr);
		struct epoll_event ev;
		struct worker *w;
		struct conn *c;
		int fd;

		if (poll(&pfd, 1, 500) <= 0)
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crl) < 0 || !peer_allowed(srv, &cr)) {
			log_warn("refused a client (uid %d, pid %d): not an allowed user", (int)cr.uid, (int)cr.pid);
			refuse_conn(fd, WRIT_E_AUTH, "this user may not use writ-hsmd");
			continue;
		}
		if (atomic_fetch_add(&n_conns, 1) >= MAX_CONNECTIONS) {
			atomic_fetch_sub(&n_conns, 1);
			refuse_conn(fd, WRIT_E_STATE, "too many connections; retry later");
			continue;
		}
		w = &workers[next++ % nw];
		c = calloc(1, sizeof(*c));
		if (c)
			c->in = malloc(IN_CAP);
		if (!c || !c->in) {
			if (c)
				free(c);
			atomic_fetch_sub(&n_conns, 1);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->uid = cr.uid;
		c->pid = cr.pid;
		c->w = w;
		/* registering under epoll hands c over to the worker */
		(void)fcntl(fd, F_SETFL, O_NONBLOCK);
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		pthread_mutex_lock(&w->lock);
		w->conns[w->n_conns++] = c; /* fits: at most MAX_CONNECTIONS in all */
		pthread_mutex_unlock(&w->lock);
		if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			conns_remove(w, c);
			atomic_fetch_sub(&n_conns, 1);
			close(fd);
			free(c->in);
			free(c);
		}
	}
	close(lfd);
	err = 0;
out:
	stop_flag = 1;
	for (i = 0; i < started; i++)
		pthread_join(workers[i].thread, NULL);
	/* every worker took its batches back before it returned: the committer is idle */
	pthread_mutex_lock(&cm.lock);
	cm.stop = 1;
	pthread_cond_signal(&cm.cv);
	pthread_mutex_unlock(&cm.lock);
	pthread_join(cm.thread, NULL);
	pthread_cond_destroy(&cm.cv);
	pthread_mutex_destroy(&cm.lock);
	for (i = 0; i < nw; i++) {
		if (workers[i].ep > 0)
			close(workers[i].ep);
		if (workers[i].efd > 0)
			close(workers[i].efd);
		pthread_mutex_destroy(&workers[i].lock);
	}
	free(workers);
	(void)unlink(socket_path);
	log_info("stopped");
	return err;
}
