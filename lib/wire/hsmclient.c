/* SPDX-License-Identifier: Apache-2.0 */
/* Client calls of writ-hsmd's socket API over a Unix socket. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "wire/cbu.h"
#include "wire/hsmclient.h"
#include "wire/hsmproto.h"

int hsmc_connect(const char *socket_path, int *ret_fd)
{
	struct sockaddr_un addr;
	int fd;

	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	if (snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", socket_path) >= (int)sizeof(addr.sun_path))
		return WRIT_E_TOOBIG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return WRIT_E_IO;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		close(fd);
		return WRIT_E_IO;
	}
	*ret_fd = fd;
	return 0;
}

int hsmc_call(int fd, const cbor_item_t *req, cbor_item_t **ret_resp, char *reason)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	cbor_item_t *resp = NULL;
	int64_t status;
	int err;

	*ret_resp = NULL;
	if (reason)
		reason[0] = 0;
	err = cbu_serialize(req, &buf, &len);
	if (err < 0)
		return err;
	err = hsmp_send(fd, buf, len);
	free(buf);
	buf = NULL;
	if (err < 0)
		return WRIT_E_IO;
	err = hsmp_recv(fd, HSMP_MAX_FRAME, &buf, &len);
	if (err != 0)
		return err == 1 ? WRIT_E_IO : err;
	err = cbu_load_map(buf, len, &resp);
	free(buf);
	if (err < 0)
		return WRIT_E_PROTO;
	if (cbu_get_int(resp, HSMP_RS_STATUS, &status) < 0 || status > 0 || status < -1000) {
		cbor_decref(&resp);
		return WRIT_E_PROTO;
	}
	if (status && reason && cbu_get_text(resp, HSMP_RS_REASON, reason, HSMC_REASON_MAX) < 0)
		(void)!snprintf(reason, HSMC_REASON_MAX, "%s", writ_strerror((int)status));
	*ret_resp = resp;
	return (int)status;
}

int hsmc_load_writ(int fd, const uint8_t *writ, size_t len, uint8_t ret_id[16], char *reason)
{
	cbor_item_t *req = cbu_new_map(2), *resp = NULL;
	int err = WRIT_E_NOMEM;

	if (!req || cbu_put_uint(req, HSMP_RQ_OP, HSMP_OP_LOAD_WRIT) < 0 || cbu_put_bytes(req, HSMP_RQ_WRIT, writ, len) < 0)
		goto out;
	err = hsmc_call(fd, req, &resp, reason);
	if (!err && cbu_get_fixed(resp, HSMP_RS_WRIT_ID, ret_id, 16) < 0)
		err = WRIT_E_PROTO;
out:
	if (req)
		cbor_decref(&req);
	if (resp)
		cbor_decref(&resp);
	return err;
}

int hsmc_issue_dac(int fd, const uint8_t id[16], const uint8_t *csr, size_t csr_len, const uint8_t *uid,
		   size_t uid_len, struct hsmc_dac *ret, char *reason)
{
	cbor_item_t *req = cbu_new_map(4), *resp = NULL;
	const uint8_t *dac, *pai;
	struct hsmc_dac d;
	int err = WRIT_E_NOMEM;

	memset(&d, 0, sizeof(d));
	if (!req || cbu_put_uint(req, HSMP_RQ_OP, HSMP_OP_ISSUE_DAC) < 0 || cbu_put_bytes(req, HSMP_RQ_WRIT_ID, id, 16) < 0 ||
	    cbu_put_bytes(req, HSMP_RQ_CSR, csr, csr_len) < 0 || cbu_put_bytes(req, HSMP_RQ_UID, uid, uid_len) < 0)
		goto out;
	err = hsmc_call(fd, req, &resp, reason);
	if (err)
		goto out;
	err = WRIT_E_PROTO;
	if (cbu_get_bytes(resp, HSMP_RS_DAC, 1, 4096, &dac, &d.dac_len) < 0 ||
	    cbu_get_bytes(resp, HSMP_RS_PAI, 1, 4096, &pai, &d.pai_len) < 0 ||
	    cbu_get_uint(resp, HSMP_RS_SERIAL, UINT64_MAX, &d.device_serial) < 0 ||
	    cbu_get_uint(resp, HSMP_RS_SEQ, UINT64_MAX, &d.seq) < 0)
		goto out;
	if (cbu_get(resp, HSMP_RS_REISSUED)) {
		uint64_t v;
		if (cbu_get_uint(resp, HSMP_RS_REISSUED, 1, &v) < 0)
			goto out;
		d.reissued = (int)v;
	}
	d.dac = malloc(d.dac_len);
	d.pai = malloc(d.pai_len);
	if (!d.dac || !d.pai) {
		hsmc_dac_free(&d);
		err = WRIT_E_NOMEM;
		goto out;
	}
	memcpy(d.dac, dac, d.dac_len);
	memcpy(d.pai, pai, d.pai_len);
	*ret = d;
	err = 0;
out:
	if (req)
		cbor_decref(&req);
	if (resp)
		cbor_decref(&resp);
	return err;
}

void hsmc_dac_free(struct hsmc_dac *d)
{
	if (!d)
		return;
	free(d->dac);
	free(d->pai);
	d->dac = d->pai = NULL;
}

int hsmc_wrap_secret(int fd, const uint8_t id[16], const uint8_t uid[16], const uint8_t *dac, size_t dac_len,
		     const uint8_t enc_pub[65], const uint8_t *binding, size_t binding_len, const char *label,
		     uint8_t *ret_wrapped, size_t cap, size_t *ret_len, uint64_t *ret_seq, char *reason)
{
	cbor_item_t *req = NULL, *resp = NULL;
	const uint8_t *w;
	size_t wlen = 0;
	uint64_t seq = 0;
	int err;

	if (!id || !uid || !dac || !enc_pub || !binding || !label || !ret_wrapped || !ret_len || dac_len == 0 ||
	    dac_len > HSMP_DAC_MAX || binding_len < HSMP_BINDING_MIN || binding_len > HSMP_BINDING_MAX ||
	    strnlen(label, HSMP_LABEL_MAX + 1) == 0 || strnlen(label, HSMP_LABEL_MAX + 1) > HSMP_LABEL_MAX)
		return WRIT_E_INVAL;
	err = WRIT_E_NOMEM;
	req = cbu_new_map(7);
	if (!req || cbu_put_uint(req, HSMP_RQ_OP, HSMP_OP_WRAP_SECRET) < 0 ||
	    cbu_put_bytes(req, HSMP_RQ_WRIT_ID, id, 16) < 0 || cbu_put_bytes(req, HSMP_RQ_UID, uid, HSMP_WRAP_UID_LEN) < 0 ||
	    cbu_put_bytes(req, HSMP_RQ_DAC, dac, dac_len) < 0 || cbu_put_bytes(req, HSMP_RQ_ENC_PUB, enc_pub, 65) < 0 ||
	    cbu_put_bytes(req, HSMP_RQ_BINDING, binding, binding_len) < 0 || cbu_put_text(req, HSMP_RQ_LABEL, label) < 0)
		goto out;
	err = hsmc_call(fd, req, &resp, reason);
	if (err)
		goto out;
	err = WRIT_E_PROTO;
	if (cbu_get_bytes(resp, HSMP_RS_WRAPPED, 1, HSMP_WRAPPED_MAX, &w, &wlen) < 0 ||
	    cbu_get_uint(resp, HSMP_RS_SEQ, UINT64_MAX, &seq) < 0)
		goto out;
	if (wlen > cap) {
		err = WRIT_E_TOOBIG;
		goto out;
	}
	memcpy(ret_wrapped, w, wlen);
	*ret_len = wlen;
	if (ret_seq)
		*ret_seq = seq;
	err = 0;
out:
	if (req)
		cbor_decref(&req);
	if (resp)
		cbor_decref(&resp);
	return err;
}

int hsmc_debug_token(int fd, const uint8_t id[16], const uint8_t uid[16], const uint8_t challenge[HSMP_DBG_CHALLENGE_LEN],
		     const uint8_t perms[HSMP_DBG_PERMS_LEN], uint32_t session, uint32_t operation,
		     struct hsmc_debug *ret, char *reason)
{
	cbor_item_t *req = NULL, *resp = NULL, *chain;
	struct hsmc_debug d;
	int64_t na = 0;
	size_t i;
	int err;

	if (!id || !uid || !challenge || !perms || !ret || session < 1 || session > 86400 ||
	    operation < HSMP_DBG_OP_DEBUG || operation > HSMP_DBG_OP_REPROVISION)
		return WRIT_E_INVAL;
	memset(&d, 0, sizeof(d));
	err = WRIT_E_NOMEM;
	req = cbu_new_map(7);
	if (!req || cbu_put_uint(req, HSMP_RQ_OP, HSMP_OP_DEBUG_TOKEN) < 0 ||
	    cbu_put_bytes(req, HSMP_RQ_WRIT_ID, id, 16) < 0 || cbu_put_bytes(req, HSMP_RQ_UID, uid, HSMP_WRAP_UID_LEN) < 0 ||
	    cbu_put_bytes(req, HSMP_RQ_CHALLENGE, challenge, HSMP_DBG_CHALLENGE_LEN) < 0 ||
	    cbu_put_bytes(req, HSMP_RQ_PERMS, perms, HSMP_DBG_PERMS_LEN) < 0 ||
	    cbu_put_uint(req, HSMP_RQ_SESSION, session) < 0 || cbu_put_uint(req, HSMP_RQ_DBG_OP, operation) < 0)
		goto out;
	err = hsmc_call(fd, req, &resp, reason);
	if (err)
		goto out;
	err = WRIT_E_PROTO;
	chain = cbu_get(resp, HSMP_RS_CHAIN);
	if (cbu_get_fixed(resp, HSMP_RS_TOKEN, d.token, sizeof(d.token)) < 0 || !chain || !cbor_isa_array(chain) ||
	    !cbor_array_is_definite(chain) || cbor_array_size(chain) < 1 || cbor_array_size(chain) > 2 ||
	    cbu_get_int(resp, HSMP_RS_NOT_AFTER, &na) < 0 || cbu_get_uint(resp, HSMP_RS_SEQ, UINT64_MAX, &d.seq) < 0)
		goto out;
	d.n_chain = cbor_array_size(chain);
	for (i = 0; i < d.n_chain; i++) {
		cbor_item_t *c = cbor_array_handle(chain)[i];
		if (!cbor_isa_bytestring(c) || !cbor_bytestring_is_definite(c) ||
		    cbor_bytestring_length(c) != HSMP_DBG_CERT_LEN)
			goto out;
		memcpy(d.chain + i * HSMP_DBG_CERT_LEN, cbor_bytestring_handle(c), HSMP_DBG_CERT_LEN);
	}
	d.not_after = na;
	*ret = d;
	err = 0;
out:
	if (req)
		cbor_decref(&req);
	if (resp)
		cbor_decref(&resp);
	return err;
}

int hsmc_checkpoint(int fd, uint64_t *ret_next, uint64_t *ret_checkpoint, char *reason)
{
	cbor_item_t *req = cbu_new_map(1), *resp = NULL;
	uint64_t next = 0, cp = 0;
	int err = WRIT_E_NOMEM;

	if (!req || cbu_put_uint(req, HSMP_RQ_OP, HSMP_OP_CHECKPOINT) < 0)
		goto out;
	err = hsmc_call(fd, req, &resp, reason);
	if (err)
		goto out;
	if (cbu_get_uint(resp, HSMP_RS_SEQ, UINT64_MAX, &next) < 0 ||
	    cbu_get_uint(resp, HSMP_RS_CHECKPOINT, UINT64_MAX, &cp) < 0 || cp >= next) {
		err = WRIT_E_PROTO;
		goto out;
	}
	if (ret_next)
		*ret_next = next;
	if (ret_checkpoint)
		*ret_checkpoint = cp;
out:
	if (req)
		cbor_decref(&req);
	if (resp)
		cbor_decref(&resp);
	return err;
}

int hsmc_journal(int fd, uint64_t since, uint64_t max, cbor_item_t **ret_entries, uint64_t *ret_next,
		 char *reason)
{
	cbor_item_t *req = NULL, *resp = NULL, *arr;
	uint64_t next = 0;
	size_t i;
	int err;

	if (max == 0 || max > HSMP_JOURNAL_BATCH_MAX || !ret_entries)
		return WRIT_E_INVAL;
	err = WRIT_E_NOMEM;
	req = cbu_new_map(3);
	if (!req || cbu_put_uint(req, HSMP_RQ_OP, HSMP_OP_JOURNAL) < 0 || cbu_put_uint(req, HSMP_RQ_SINCE, since) < 0 ||
	    cbu_put_uint(req, HSMP_RQ_MAX, max) < 0)
		goto out;
	err = hsmc_call(fd, req, &resp, reason);
	if (err)
		goto out;
	err = WRIT_E_PROTO;
	arr = cbu_get(resp, HSMP_RS_ENTRIES);
	if (!arr || !cbor_isa_array(arr) || !cbor_array_is_definite(arr) || cbor_array_size(arr) > max ||
	    cbu_get_uint(resp, HSMP_RS_SEQ, UINT64_MAX, &next) < 0)
		goto out;
	for (i = 0; i < cbor_array_size(arr); i++) {
		cbor_item_t *b = cbor_array_handle(arr)[i];
		if (!cbor_isa_bytestring(b) || !cbor_bytestring_is_definite(b) || cbor_bytestring_length(b) == 0)
			goto out;
	}
	*ret_entries = cbor_incref(arr);
	if (ret_next)
		*ret_next = next;
	err = 0;
out:
	if (req)
		cbor_decref(&req);
	if (resp)
		cbor_decref(&resp);
	return err;
}
