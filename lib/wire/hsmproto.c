/* SPDX-License-Identifier: Apache-2.0 */
/* Length-prefixed framing of writ-hsmd's socket API. */
#include <errno.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include "wire/hsmproto.h"

static int read_all(int fd, uint8_t *p, size_t n, size_t *ret_done)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = read(fd, p + done, n - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		done += (size_t)r;
	}
	*ret_done = done;
	return done == n ? 0 : WRIT_E_IO;
}

int hsmp_send(int fd, const uint8_t *msg, size_t len)
{
	uint8_t hdr[4];
	struct iovec iov[2];
	size_t done = 0, total = len + 4;

	if (len > HSMP_MAX_FRAME)
		return WRIT_E_TOOBIG;
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	/* one writev: a peer blocked on the header would otherwise wake twice per frame */
	while (done < total) {
		int n = 0;
		ssize_t w;
		if (done < 4) {
			iov[n].iov_base = hdr + done;
			iov[n++].iov_len = 4 - done;
		}
		iov[n].iov_base = (uint8_t *)msg + (done > 4 ? done - 4 : 0);
		iov[n++].iov_len = len - (done > 4 ? done - 4 : 0);
		w = writev(fd, iov, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return WRIT_E_IO;
		done += (size_t)w;
	}
	return 0;
}

int hsmp_recv(int fd, size_t max, uint8_t **ret, size_t *ret_len)
{
	uint8_t hdr[4], *buf;
	size_t done, len;

	if (read_all(fd, hdr, 4, &done) < 0)
		return done == 0 ? 1 : WRIT_E_PROTO;
	len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
	if (len > max || len > HSMP_MAX_FRAME)
		return WRIT_E_TOOBIG;
	if (len == 0)
		return WRIT_E_PROTO;
	buf = malloc(len);
	if (!buf)
		return WRIT_E_NOMEM;
	if (read_all(fd, buf, len, &done) < 0) {
		free(buf);
		return WRIT_E_PROTO;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

#include <string.h>

#include "wire/cbu.h"

void hsmp_request_free(struct hsmp_request *r)
{
	if (r && r->root)
		cbor_decref(&r->root);
}

int hsmp_decode_request(const uint8_t *buf, size_t len, struct hsmp_request *ret)
{
	struct hsmp_request r;
	uint64_t op;
	size_t want, want_len;
	int err;

	memset(&r, 0, sizeof(r));
	if (len > HSMP_MAX_FRAME)
		return WRIT_E_TOOBIG;
	if (cbu_load_map(buf, len, &r.root) < 0)
		return WRIT_E_PROTO;
	err = WRIT_E_PROTO;
	if (cbu_get_uint(r.root, HSMP_RQ_OP, 255, &op) < 0)
		goto fail;
	r.op = (uint32_t)op;
	switch (r.op) {
	case HSMP_OP_LOAD_WRIT:
		want = 2;
		if (cbu_get_bytes(r.root, HSMP_RQ_WRIT, 1, HSMP_MAX_FRAME, &r.writ, &r.writ_len) < 0)
			goto fail;
		break;
	case HSMP_OP_ISSUE_DAC:
		want = 4;
		if (cbu_get_fixed(r.root, HSMP_RQ_WRIT_ID, r.writ_id, sizeof(r.writ_id)) < 0 ||
		    cbu_get_bytes(r.root, HSMP_RQ_CSR, 1, 4096, &r.csr, &r.csr_len) < 0 ||
		    cbu_get_bytes(r.root, HSMP_RQ_UID, 1, HSMP_UID_MAX, &r.uid, &r.uid_len) < 0)
			goto fail;
		break;
	case HSMP_OP_WRAP_SECRET:
		want = 7;
		if (cbu_get_fixed(r.root, HSMP_RQ_WRIT_ID, r.writ_id, sizeof(r.writ_id)) < 0 ||
		    cbu_get_bytes(r.root, HSMP_RQ_UID, HSMP_WRAP_UID_LEN, HSMP_WRAP_UID_LEN, &r.uid, &r.uid_len) < 0 ||
		    cbu_get_bytes(r.root, HSMP_RQ_DAC, 1, HSMP_DAC_MAX, &r.dac, &r.dac_len) < 0 ||
		    cbu_get_bytes(r.root, HSMP_RQ_ENC_PUB, WRIT_P256_PUB_LEN, WRIT_P256_PUB_LEN, &r.enc_pub, &want_len) < 0 ||
		    cbu_get_bytes(r.root, HSMP_RQ_BINDING, HSMP_BINDING_MIN, HSMP_BINDING_MAX, &r.binding,
				  &r.binding_len) < 0 ||
		    cbu_get_text(r.root, HSMP_RQ_LABEL, r.label, sizeof(r.label)) < 0)
			goto fail;
		r.label_len = strlen(r.label);
		if (r.label_len == 0)
			goto fail;
		break;
	case HSMP_OP_DEBUG_TOKEN: {
		uint64_t session, dop;
		want = 7;
		if (cbu_get_fixed(r.root, HSMP_RQ_WRIT_ID, r.writ_id, sizeof(r.writ_id)) < 0 ||
		    cbu_get_bytes(r.root, HSMP_RQ_UID, HSMP_WRAP_UID_LEN, HSMP_WRAP_UID_LEN, &r.uid, &r.uid_len) < 0 ||
		    cbu_get_fixed(r.root, HSMP_RQ_CHALLENGE, r.challenge, sizeof(r.challenge)) < 0 ||
		    cbu_get_fixed(r.root, HSMP_RQ_PERMS, r.perms, sizeof(r.perms)) < 0 ||
		    cbu_get_uint(r.root, HSMP_RQ_SESSION, 86400, &session) < 0 || session == 0 ||
		    cbu_get_uint(r.root, HSMP_RQ_DBG_OP, HSMP_DBG_OP_REPROVISION, &dop) < 0 || dop == 0)
			goto fail;
		r.session = (uint32_t)session;
		r.dbg_op = (uint32_t)dop;
		break;
	}
	case HSMP_OP_STATUS:
	case HSMP_OP_ENROLMENT:
	case HSMP_OP_CHECKPOINT:
		want = 1;
		break;
	case HSMP_OP_JOURNAL:
		want = 3;
		if (cbu_get_uint(r.root, HSMP_RQ_SINCE, UINT64_MAX, &r.since) < 0 ||
		    cbu_get_uint(r.root, HSMP_RQ_MAX, HSMP_JOURNAL_BATCH_MAX, &r.max) < 0 || r.max == 0)
			goto fail;
		break;
	default:
		goto fail;
	}
	if (cbor_map_size(r.root) != want)
		goto fail; /* keys this op does not take */
	*ret = r;
	return 0;
fail:
	hsmp_request_free(&r);
	return err;
}
