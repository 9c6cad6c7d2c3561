/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The journal of writ-hsmd (format in journal.h and docs/writ-format.md): verification
 * and torn-tail recovery at open, and group-committed durable appends.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/ct.h"
#include "crypto/ec.h"
#include "hsm/journal.h"
#include "host/file.h"
#include "host/log.h"
#include "wire/cbu.h"

#define FRAME_OVERHEAD 8
/* A group-commit batch never holds more than PENDING_MAX plus one entry. */
#define PENDING_MAX (1024 * 1024)
/* The file is kept up to RESERVE_CHUNK of zeros ahead of its frames: overwriting
 * allocated blocks lets fdatasync skip the metadata an append needs (on ext4 here:
 * 109 instead of 169 us of CPU and 306 instead of 437 us per sync). A length field of
 * zero with nothing but zeros after it is the end of the journal. A crash while the
 * reserve is extended can leave at most a batch plus a reserve chunk of unsynced data:
 * the largest tail recovery may cut. */
#define RESERVE_CHUNK (1024u * 1024)
#define JOURNAL_TORN_MAX (PENDING_MAX + JOURNAL_MAX_ENTRY + FRAME_OVERHEAD + RESERVE_CHUNK)

struct journal {
	int fd;
	const struct writ_signer *signer;
	pthread_mutex_t lock;
	pthread_cond_t durable_cv;
	uint8_t identity_pub[WRIT_P256_PUB_LEN];
	/* chain state, protected by lock */
	uint64_t next_seq;      /* seq of the next entry to be assigned */
	uint8_t head[32];       /* hash of the last assigned entry */
	uint64_t since_checkpoint;
	uint64_t last_checkpoint; /* seq of the latest checkpoint assigned */
	int64_t max_time;
	/* group commit */
	uint8_t *pending;
	size_t pending_len, pending_cap;
	uint8_t *spare;         /* the last batch's buffer, reused for the next (no malloc per sync) */
	size_t spare_cap;
	uint64_t pending_last;  /* highest seq in pending */
	uint64_t durable_next;  /* every seq below this is on disk */
	int committing;
	int failed;
	/* offsets[seq] = file offset of that frame, for export */
	uint64_t *offsets;
	size_t offsets_cap;
	uint64_t file_end;      /* file offset where the next frame is written */
	uint64_t inflight_len;  /* bytes the commit leader is writing at file_end, lock released */
	uint64_t alloc_end;     /* the file's size: file_end..alloc_end holds zeros */
	/* rollback anchor (hsm/anchor.h): told each new durable length before waiters wake */
	journal_anchor_fn anchor;
	void *anchor_ctx;
};

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Serialize entry {seq, prev, time, type, body} into a frame. */
static int build_frame(uint64_t seq, const uint8_t prev[32], int64_t now, uint32_t type, const cbor_item_t *body,
		       uint8_t **ret_frame, size_t *ret_len, uint8_t ret_hash[32])
{
	uint8_t *entry = NULL, *frame = NULL;
	size_t entry_len = 0;
	int err;

	err = jentry_encode(seq, prev, now, type, body, &entry, &entry_len);
	if (err < 0)
		return err;
	frame = malloc(entry_len + FRAME_OVERHEAD);
	if (!frame) {
		err = WRIT_E_NOMEM;
		goto out;
	}
	err = ec_sha256(entry, entry_len, ret_hash);
	if (err < 0)
		goto out;
	put_be32(frame, (uint32_t)entry_len);
	memcpy(frame + 4, entry, entry_len);
	memcpy(frame + 4 + entry_len, ret_hash, 4);
	*ret_frame = frame;
	*ret_len = entry_len + FRAME_OVERHEAD;
	frame = NULL;
	err = 0;
out:
	free(frame);
	free(entry);
	return err;
}

static int write_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return WRIT_E_IO;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

static int offsets_push(struct journal *j, uint64_t seq, uint64_t off)
{
	if (seq >= j->offsets_cap) {
		size_t cap = j->offsets_cap ? j->offsets_cap * 2 : 1024;
		uint64_t *n;
		while (cap <= seq)
			cap *= 2;
		n = realloc(j->offsets, cap * sizeof(*n));
		if (!n)
			return WRIT_E_NOMEM;
		j->offsets = n;
		j->offsets_cap = cap;
	}
	j->offsets[seq] = off;
	return 0;
}

int journal_create(const char *path, const cbor_item_t *genesis_body, int64_t now, const struct writ_signer *signer)
{
	uint8_t zero[32] = { 0 }, h0[32], h1[32], digest[32], sig[WRIT_P256_SIG_LEN];
	uint8_t *f0 = NULL, *f1 = NULL;
	size_t l0 = 0, l1 = 0;
	const uint8_t *idpub;
	size_t idlen;
	cbor_item_t *cp = NULL;
	int fd = -1, err;

	err = cbu_get_bytes(genesis_body, 3, WRIT_P256_PUB_LEN, WRIT_P256_PUB_LEN, &idpub, &idlen);
	if (err < 0 || memcmp(idpub, signer->pub, WRIT_P256_PUB_LEN) != 0)
		return WRIT_E_INVAL;
	err = build_frame(0, zero, now, JT_GENESIS, genesis_body, &f0, &l0, h0);
	if (err < 0)
		goto out;
	err = jentry_checkpoint_digest(1, h0, digest);
	if (err < 0)
		goto out;
	err = signer->sign(signer->ctx, digest, sig);
	if (err < 0)
		goto out;
	err = WRIT_E_NOMEM;
	cp = cbu_new_map(1);
	if (!cp || cbu_put_bytes(cp, 1, sig, sizeof(sig)) < 0)
		goto out;
	err = build_frame(1, h0, now, JT_CHECKPOINT, cp, &f1, &l1, h1);
	if (err < 0)
		goto out;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = errno == EEXIST ? WRIT_E_EXISTS : WRIT_E_IO;
		goto out;
	}
	err = write_all(fd, f0, l0, 0);
	if (!err)
		err = write_all(fd, f1, l1, l0);
	if (!err && fsync(fd) < 0)
		err = WRIT_E_IO;
	if (!err)
		err = file_fsync_dir(path);
out:
	if (fd >= 0)
		close(fd);
	if (cp)
		cbor_decref(&cp);
	free(f0);
	free(f1);
	return err;
}

/* Decode one entry (jentry_decode; JENTRY_LEGACY reads journals written before the
 * canonical writer too) and verify it against the chain state; update the state. On
 * success *ret_body is the body as a libcbor map for the replay callback (the caller
 * decrefs it). */
static int verify_entry(struct journal *j, const uint8_t *raw, size_t raw_len, uint64_t off,
			struct journal_entry *ret_e, cbor_item_t **ret_body)
{
	struct jentry e;
	const struct jentry_val *v;
	cbor_item_t *body = NULL;

	if (jentry_decode(raw, raw_len, JENTRY_LEGACY, &e) < 0) {
		log_error("journal: entry at offset %llu is not a valid entry (CBOR map {1 seq, 2 prev, 3 time, "
			  "4 type, 5 body} of a known type)", (unsigned long long)off);
		return WRIT_E_JOURNAL;
	}
	if (e.seq != j->next_seq) {
		log_error("journal: entry %llu found where %llu was expected", (unsigned long long)e.seq,
			  (unsigned long long)j->next_seq);
		return WRIT_E_JOURNAL;
	}
	if (memcmp(e.prev, j->head, 32) != 0) {
		log_error("journal: entry %llu does not chain to its predecessor", (unsigned long long)e.seq);
		return WRIT_E_JOURNAL;
	}
	if (e.type == JT_GENESIS) {
		v = &e.vals[3];
		if (!v->present || v->major != 2 || v->arg != WRIT_P256_PUB_LEN)
			return WRIT_E_JOURNAL;
		memcpy(j->identity_pub, v->p, WRIT_P256_PUB_LEN);
	}
	if (e.type == JT_CHECKPOINT) {
		v = &e.vals[1];
		if (!v->present || v->major != 2 || v->arg != WRIT_P256_SIG_LEN ||
		    jentry_checkpoint_verify(j->identity_pub, e.seq, e.prev, v->p) < 0) {
			log_error("journal: checkpoint %llu is not signed by this HSM's identity key",
				  (unsigned long long)e.seq);
			return WRIT_E_JOURNAL;
		}
	}
	if (cbu_load_map(e.body, e.body_len, &body) < 0)
		return WRIT_E_JOURNAL;
	ret_e->seq = e.seq;
	ret_e->time = e.time;
	ret_e->type = e.type;
	ret_e->body = body;
	if (ec_sha256(raw, raw_len, ret_e->hash) < 0) {
		cbor_decref(&body);
		return WRIT_E_CRYPTO;
	}
	memcpy(j->head, ret_e->hash, 32);
	j->next_seq = e.seq + 1;
	if (e.time > j->max_time)
		j->max_time = e.time;
	*ret_body = body;
	return 0;
}

/* The offset just past the last non-zero byte in [off, size); off if there is none. */
static uint64_t nonzero_end(int fd, uint64_t off, uint64_t size)
{
	uint8_t chunk[65536];
	uint64_t end = size;

	while (end > off) {
		size_t n = end - off < sizeof(chunk) ? (size_t)(end - off) : sizeof(chunk);
		size_t i;
		if (pread(fd, chunk, n, (off_t)(end - n)) != (ssize_t)n)
			return size; /* unreadable: treat it all as data */
		for (i = n; i > 0; i--)
			if (chunk[i - 1])
				return end - n + i;
		end -= n;
	}
	return off;
}

/* Overwrite [from, to) with zeros (no fsync). */
static int write_zeros(int fd, uint64_t from, uint64_t to)
{
	static const uint8_t zeros[65536];

	while (from < to) {
		size_t n = to - from < sizeof(zeros) ? (size_t)(to - from) : sizeof(zeros);
		if (write_all(fd, zeros, n, from) < 0)
			return WRIT_E_IO;
		from += n;
	}
	return 0;
}

/* Read the frame at off into buf (JOURNAL_MAX_ENTRY + 4 bytes). 0 if it is complete
 * and its check matches; otherwise negative, with *ret_len the length field if sane
 * (0 if not). */
static int frame_at(int fd, uint64_t off, uint64_t size, uint8_t *buf, uint32_t *ret_len)
{
	uint8_t hdr[4], check[32];
	uint32_t len;

	*ret_len = 0;
	if (size - off < 4 || pread(fd, hdr, 4, (off_t)off) != 4)
		return WRIT_E_FORMAT;
	len = get_be32(hdr);
	if (len == 0 || len > JOURNAL_MAX_ENTRY)
		return WRIT_E_FORMAT;
	*ret_len = len;
	if (size - off < (uint64_t)len + FRAME_OVERHEAD || pread(fd, buf, len + 4, (off_t)(off + 4)) != (ssize_t)len + 4)
		return WRIT_E_FORMAT;
	if (ec_sha256(buf, len, check) < 0 || memcmp(check, buf + len, 4) != 0)
		return WRIT_E_FORMAT;
	return 0;
}

int journal_open(const char *path, const struct writ_signer *signer, journal_replay_fn fn, void *ctx,
		 struct journal **ret, struct journal_open_info *ret_info)
{
	struct journal *j;
	struct journal_open_info info = { 0 };
	struct stat st;
	uint8_t *buf = NULL;
	uint64_t off = 0, size;
	int err = WRIT_E_IO;

	j = calloc(1, sizeof(*j));
	if (!j)
		return WRIT_E_NOMEM;
	j->fd = -1;
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->durable_cv, NULL);
	j->signer = signer;
	j->fd = open(path, (signer ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (j->fd < 0) {
		err = errno == ENOENT ? WRIT_E_NOTFOUND : WRIT_E_IO;
		goto fail;
	}
	if (fstat(j->fd, &st) < 0)
		goto fail;
	size = (uint64_t)st.st_size;
	buf = malloc(JOURNAL_MAX_ENTRY + FRAME_OVERHEAD);
	if (!buf) {
		err = WRIT_E_NOMEM;
		goto fail;
	}
	while (off < size) {
		cbor_item_t *body = NULL;
		struct journal_entry e;
		uint32_t len = 0;

		if (frame_at(j->fd, off, size, buf, &len) < 0) {
			/* The end of the frames: zeros only (the reserve), or damage. A damaged
			 * last batch is a torn write; damage with intact frames after it, or more
			 * data than one batch can leave, is not. */
			uint64_t next = off + FRAME_OVERHEAD + len, data_end = nonzero_end(j->fd, off, size);
			uint32_t l2;
			if (data_end == off)
				break; /* a clean end */
			if (data_end - off > JOURNAL_TORN_MAX ||
			    (len && next < size && frame_at(j->fd, next, size, buf, &l2) == 0)) {
				log_error("journal: frame at offset %llu is damaged and intact data follows it; "
					  "refusing to start (this is not an interrupted write: keep the file for "
					  "investigation and restore the HSM state from a verified copy)",
					  (unsigned long long)off);
				err = WRIT_E_JOURNAL;
				goto fail;
			}
			info.torn_bytes = data_end - off;
			break;
		}
		err = verify_entry(j, buf, len, off, &e, &body);
		if (!err && e.type == JT_CHECKPOINT) {
			info.checkpoints++;
			j->since_checkpoint = 0;
			j->last_checkpoint = e.seq;
		} else {
			j->since_checkpoint++;
		}
		if (!err)
			err = offsets_push(j, e.seq, off);
		if (!err && fn)
			err = fn(ctx, &e);
		if (body)
			cbor_decref(&body);
		if (err) {
			if (err > 0)
				err = WRIT_E_JOURNAL;
			goto fail;
		}
		off += len + FRAME_OVERHEAD;
		info.entries++;
	}
	if (info.entries == 0) {
		log_error("journal: %s holds no entry", path);
		err = WRIT_E_JOURNAL;
		goto fail;
	}
	if (signer && memcmp(signer->pub, j->identity_pub, WRIT_P256_PUB_LEN) != 0) {
		log_error("journal: it belongs to another HSM identity than this token's");
		err = WRIT_E_JOURNAL;
		goto fail;
	}
	if (info.torn_bytes) {
		log_warn("journal: cutting a torn tail of %llu bytes at offset %llu (an interrupted write)",
			 (unsigned long long)info.torn_bytes, (unsigned long long)off);
		if (signer && (write_zeros(j->fd, off, off + info.torn_bytes) < 0 || fsync(j->fd) < 0)) {
			err = WRIT_E_IO;
			goto fail;
		}
	}
	j->file_end = off;
	j->alloc_end = size;
	j->durable_next = j->next_seq;
	j->pending_last = j->next_seq ? j->next_seq - 1 : 0;
	info.max_time = j->max_time;
	free(buf);
	*ret = j;
	if (ret_info)
		*ret_info = info;
	return 0;
fail:
	free(buf);
	/* a journal that did not verify is left exactly as found: no closing checkpoint
	 * (file_end is not set yet, so it would overwrite the file's first frames) */
	j->failed = 1;
	journal_close(j);
	return err;
}

/* Under lock: add a frame to the pending batch. */
static int enqueue(struct journal *j, uint32_t type, int64_t now, const cbor_item_t *body, uint64_t *ret_seq)
{
	uint8_t *frame = NULL, hash[32];
	size_t len = 0;
	int err;

	if (j->failed)
		return WRIT_E_IO;
	err = build_frame(j->next_seq, j->head, now, type, body, &frame, &len, hash);
	if (err < 0)
		return err;
	if (!j->pending && j->spare) {
		j->pending = j->spare;
		j->pending_cap = j->spare_cap;
		j->spare = NULL;
		j->spare_cap = 0;
	}
	if (j->pending_len + len > j->pending_cap) {
		size_t cap = j->pending_cap ? j->pending_cap : 65536;
		uint8_t *n;
		while (cap < j->pending_len + len)
			cap *= 2;
		n = realloc(j->pending, cap);
		if (!n) {
			free(frame);
			return WRIT_E_NOMEM;
		}
		j->pending = n;
		j->pending_cap = cap;
	}
	/* after what is durable, what the leader is writing and what is already queued */
	err = offsets_push(j, j->next_seq, j->file_end + j->inflight_len + j->pending_len);
	if (err < 0) {
		free(frame);
		return err;
	}
	memcpy(j->pending + j->pending_len, frame, len);
	j->pending_len += len;
	free(frame);
	memcpy(j->head, hash, 32);
	*ret_seq = j->next_seq;
	j->pending_last = j->next_seq;
	j->next_seq++;
	j->since_checkpoint = type == JT_CHECKPOINT ? 0 : j->since_checkpoint + 1;
	if (type == JT_CHECKPOINT)
		j->last_checkpoint = *ret_seq;
	if (now > j->max_time)
		j->max_time = now;
	return 0;
}

/* Under lock: a checkpoint entry over the current head. */
static int enqueue_checkpoint(struct journal *j, int64_t now, uint64_t *ret_seq)
{
	uint8_t digest[32], sig[WRIT_P256_SIG_LEN];
	cbor_item_t *cp;
	int err;

	if (!j->signer)
		return WRIT_E_STATE;
	err = jentry_checkpoint_digest(j->next_seq, j->head, digest);
	if (err < 0)
		return err;
	err = j->signer->sign(j->signer->ctx, digest, sig);
	if (err < 0)
		return err;
	cp = cbu_new_map(1);
	if (!cp || cbu_put_bytes(cp, 1, sig, sizeof(sig)) < 0) {
		if (cp)
			cbor_decref(&cp);
		return WRIT_E_NOMEM;
	}
	err = enqueue(j, JT_CHECKPOINT, now, cp, ret_seq);
	cbor_decref(&cp);
	return err;
}

/* Under lock: wait until seq is durable, writing batches as the leader if nobody is. */
static int wait_durable(struct journal *j, uint64_t seq)
{
	while (j->durable_next <= seq && !j->failed) {
		if (j->committing) {
			pthread_cond_wait(&j->durable_cv, &j->lock);
			continue;
		}
		/* become the leader: write everything pending in one go */
		uint8_t *batch = j->pending;
		size_t len = j->pending_len, batch_cap = j->pending_cap;
		uint64_t last = j->pending_last, off = j->file_end;
		int err;

		j->committing = 1;
		j->inflight_len = len;
		j->pending = NULL;
		j->pending_len = j->pending_cap = 0;
		pthread_mutex_unlock(&j->lock);
		/* only the leader touches alloc_end; the zeros go to disk with this batch */
		err = 0;
		if (off + len > j->alloc_end) {
			uint64_t to = off + len + RESERVE_CHUNK;
			err = write_zeros(j->fd, j->alloc_end, to);
			if (!err)
				j->alloc_end = to;
		}
		if (!err)
			err = write_all(j->fd, batch, len, off);
		if (!err && fdatasync(j->fd) < 0)
			err = WRIT_E_IO;
		/* only the leader calls it, so calls are serialised; a failure fails the journal */
		if (!err && j->anchor)
			err = j->anchor(j->anchor_ctx, last + 1);
		pthread_mutex_lock(&j->lock);
		if (!j->spare && batch_cap <= 4 * 65536) {
			j->spare = batch;
			j->spare_cap = batch_cap;
		} else {
			free(batch);
		}
		j->committing = 0;
		j->inflight_len = 0;
		if (err) {
			log_error("journal: write failed (%s); refusing every further operation",
				  writ_strerror(err));
			j->failed = 1;
		} else {
			j->file_end = off + len;
			j->durable_next = last + 1;
		}
		pthread_cond_broadcast(&j->durable_cv);
	}
	return j->failed ? WRIT_E_IO : 0;
}

int journal_enqueue_typed(struct journal *j, const uint32_t *types, int64_t now, cbor_item_t *const *bodies,
			  size_t n, uint64_t *ret_seqs, uint64_t *ret_last)
{
	uint64_t seq = 0, cseq;
	size_t i, queued = 0;
	int err = 0;

	*ret_last = JOURNAL_NONE;
	if (!j->signer || n == 0)
		return WRIT_E_INVAL;
	for (i = 0; i < n; i++)
		if (types[i] <= JT_GENESIS || types[i] == JT_CHECKPOINT || types[i] > JT_REPROVISION)
			return WRIT_E_INVAL;
	pthread_mutex_lock(&j->lock);
	while (j->pending_len > PENDING_MAX && !j->failed)
		pthread_cond_wait(&j->durable_cv, &j->lock);
	for (i = 0; i < n && !err; i++) {
		err = enqueue(j, types[i], now, bodies[i], &seq);
		if (!err) {
			if (ret_seqs)
				ret_seqs[i] = seq;
			queued++;
		}
		if (!err && j->since_checkpoint >= JOURNAL_CHECKPOINT_EVERY)
			(void)enqueue_checkpoint(j, now, &cseq); /* a missed checkpoint is retried later */
	}
	pthread_mutex_unlock(&j->lock);
	if (queued)
		*ret_last = seq;
	return err;
}

int journal_wait(struct journal *j, uint64_t seq)
{
	int err;

	pthread_mutex_lock(&j->lock);
	err = wait_durable(j, seq);
	pthread_mutex_unlock(&j->lock);
	return err;
}

int journal_append_typed(struct journal *j, const uint32_t *types, int64_t now, cbor_item_t *const *bodies,
			 size_t n, uint64_t *ret_seqs)
{
	uint64_t last;
	int err = journal_enqueue_typed(j, types, now, bodies, n, ret_seqs, &last);

	/* what was queued becomes durable whatever happened after it */
	if (last != JOURNAL_NONE) {
		int werr = journal_wait(j, last);
		if (!err)
			err = werr;
	}
	return err;
}

int journal_append_many(struct journal *j, uint32_t type, int64_t now, cbor_item_t *const *bodies, size_t n,
			uint64_t *ret_seqs)
{
	uint32_t types[64];
	size_t done = 0, k, i;
	int err = 0;

	/* in slices of the types array; each slice is one group commit */
	while (!err && done < n) {
		k = n - done < 64 ? n - done : 64;
		for (i = 0; i < k; i++)
			types[i] = type;
		err = journal_append_typed(j, types, now, bodies + done, k, ret_seqs ? ret_seqs + done : NULL);
		done += k;
	}
	return n == 0 ? WRIT_E_INVAL : err;
}

int journal_append(struct journal *j, uint32_t type, int64_t now, const cbor_item_t *body, uint64_t *ret_seq)
{
	cbor_item_t *one = (cbor_item_t *)body;
	uint64_t seq = 0;
	int err = journal_append_many(j, type, now, &one, 1, &seq);

	if (!err && ret_seq)
		*ret_seq = seq;
	return err;
}

int journal_checkpoint(struct journal *j, int64_t now)
{
	uint64_t seq = 0;
	int err;

	pthread_mutex_lock(&j->lock);
	err = enqueue_checkpoint(j, now, &seq);
	if (!err)
		err = wait_durable(j, seq);
	pthread_mutex_unlock(&j->lock);
	return err;
}

int journal_checkpoint_now(struct journal *j, int64_t now, uint64_t *ret_next, uint64_t *ret_checkpoint)
{
	uint64_t seq = 0, cp;
	int err = 0, wrote = 0;

	pthread_mutex_lock(&j->lock);
	/* since_checkpoint counts queued entries too: a checkpoint queued by another
	 * caller covers them, and waiting for it to be durable is enough */
	if (j->failed)
		err = WRIT_E_IO;
	else if (j->since_checkpoint > 0 && (err = enqueue_checkpoint(j, now, &seq)) == 0)
		wrote = 1;
	/* the one to report: a later one may be queued while this waits, not yet durable */
	cp = j->last_checkpoint;
	if (!err)
		err = wait_durable(j, cp);
	if (!err) {
		*ret_next = j->durable_next;
		*ret_checkpoint = cp;
	}
	pthread_mutex_unlock(&j->lock);
	return err < 0 ? err : wrote;
}

void journal_set_anchor(struct journal *j, journal_anchor_fn fn, void *ctx)
{
	pthread_mutex_lock(&j->lock);
	j->anchor = fn;
	j->anchor_ctx = ctx;
	pthread_mutex_unlock(&j->lock);
}

uint64_t journal_next_seq(struct journal *j)
{
	uint64_t n;

	pthread_mutex_lock(&j->lock);
	n = j->durable_next;
	pthread_mutex_unlock(&j->lock);
	return n;
}

int64_t journal_max_time(struct journal *j)
{
	int64_t t;

	pthread_mutex_lock(&j->lock);
	t = j->max_time;
	pthread_mutex_unlock(&j->lock);
	return t;
}

int journal_export(struct journal *j, uint64_t since, uint64_t max, cbor_item_t **ret)
{
	uint64_t end, seq, n;
	cbor_item_t *arr = NULL;
	uint8_t *buf = NULL;
	int err = WRIT_E_NOMEM;

	pthread_mutex_lock(&j->lock);
	end = j->durable_next;
	pthread_mutex_unlock(&j->lock);
	if (since > end)
		since = end;
	n = end - since < max ? end - since : max;
	arr = cbor_new_definite_array((size_t)n);
	buf = malloc(JOURNAL_MAX_ENTRY + 4);
	if (!arr || !buf)
		goto fail;
	for (seq = since; seq < since + n; seq++) {
		uint8_t hdr[4];
		uint64_t off;
		uint32_t len;
		cbor_item_t *b;

		pthread_mutex_lock(&j->lock);
		off = j->offsets[seq];
		pthread_mutex_unlock(&j->lock);
		err = WRIT_E_IO;
		if (pread(j->fd, hdr, 4, (off_t)off) != 4)
			goto fail;
		len = get_be32(hdr);
		if (len == 0 || len > JOURNAL_MAX_ENTRY || pread(j->fd, buf, len, (off_t)(off + 4)) != (ssize_t)len)
			goto fail;
		err = WRIT_E_NOMEM;
		b = cbor_build_bytestring(buf, len);
		if (!b || !cbor_array_push(arr, cbor_move(b)))
			goto fail;
	}
	free(buf);
	*ret = arr;
	return 0;
fail:
	free(buf);
	if (arr)
		cbor_decref(&arr);
	return err;
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0 && j->signer && !j->failed && j->since_checkpoint > 0 && j->next_seq > 0)
		(void)!journal_checkpoint(j, j->max_time);
	if (j->fd >= 0)
		close(j->fd);
	free(j->pending);
	free(j->spare);
	free(j->offsets);
	pthread_cond_destroy(&j->durable_cv);
	pthread_mutex_destroy(&j->lock);
	free(j);
}
