/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jseg_tool: verify a running writ-hsmd's journal as the cloud does (lib/wire/jseg.c),
 * for tests/integration/hsm_checkpoint.sh. It reads entries [since, next) over the
 * socket (op 4), trusts the identity key of the HSM's enrolment bundle, verifies them
 * from the cursor given (a fresh HSM's by default), re-verifies every journalled
 * signed writ under the OEM key its genesis pinned, and prints one summary line:
 *
 *   accepted A duplicates D tail T next N hash HEX64 dac X reissue R wrap W writ V/S
 *
 * (V of S signed writs verified), or "refused ERROR FAULT: reason" and exit 1.
 *
 *   jseg_tool SOCKET ENROLMENT.cbor [--next N --hash HEX64] [--since S] [--save DIR]
 *
 * --save writes each entry to DIR/SEQ.entry (seeds for tests/fuzz/fuzz_jseg.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/ec.h"
#include "host/file.h"
#include "wire/enrol.h"
#include "wire/hsmclient.h"
#include "wire/hsmproto.h"
#include "wire/jseg.h"

struct counts {
	unsigned dac, reissue, wrap, writ, writ_ok;
	int have_oem;
	uint8_t oem_pub[WRIT_P256_PUB_LEN];
};

static int on_event(void *ctx, const struct jseg_event *ev)
{
	struct counts *c = ctx;
	struct writ_scope *s;

	switch (ev->body.type) {
	case JT_GENESIS:
		memcpy(c->oem_pub, ev->body.u.genesis.oem_pub, WRIT_P256_PUB_LEN);
		c->have_oem = 1;
		break;
	case JT_DAC:
		c->dac++;
		break;
	case JT_REISSUE:
		c->reissue++;
		break;
	case JT_WRAP:
		c->wrap++;
		break;
	case JT_WRIT:
		if (ev->body.u.writ.sealed)
			break;
		c->writ++;
		s = malloc(sizeof(*s));
		if (!s)
			return WRIT_E_NOMEM;
		if (c->have_oem && writ_verify_signed(ev->body.u.writ.msg, ev->body.u.writ.len, c->oem_pub, s) == 0 &&
		    memcmp(s->id, ev->body.u.writ.id, WRIT_ID_LEN) == 0)
			c->writ_ok++;
		writ_scope_wipe(s);
		free(s);
		break;
	default:
		break;
	}
	return 0;
}

static const char *fault_name(enum jseg_fault f)
{
	static const char *const names[] = { "ok", "unsigned", "toobig", "format", "gap", "seq", "chain",
					      "genesis", "sig", "fork", "stale", "callback" };

	return (unsigned)f < sizeof(names) / sizeof(names[0]) ? names[f] : "?";
}

int main(int argc, char **argv)
{
	static const struct option lo[] = { { "next", 1, 0, 'n' }, { "hash", 1, 0, 'h' }, { "since", 1, 0, 's' },
					    { "save", 1, 0, 'S' }, { 0, 0, 0, 0 } };
	struct jseg_verifier v;
	struct jseg_result r;
	struct jseg_why why;
	struct jseg_entry *run = NULL;
	struct enrol_info *info = NULL;
	struct counts c;
	cbor_item_t *batches[JSEG_MAX_ENTRIES / HSMP_JOURNAL_BATCH_MAX + 1];
	char reason[HSMC_REASON_MAX], hex[65];
	const char *save = NULL;
	uint8_t *bundle = NULL;
	uint64_t since = UINT64_MAX, hsm_next = 0;
	size_t len = 0, n = 0, nb = 0, i;
	int fd = -1, opt, err, rc = 2;

	memset(&v, 0, sizeof(v));
	memset(&c, 0, sizeof(c));
	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (opt) {
		case 'n': v.cursor.next = strtoull(optarg, NULL, 10); break;
		case 'h':
			if (hex_decode(optarg, v.cursor.hash, 32) < 0)
				return 2;
			break;
		case 's': since = strtoull(optarg, NULL, 10); break;
		case 'S': save = optarg; break;
		default: return 2;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: jseg_tool SOCKET ENROLMENT [--next N --hash HEX] [--since S] [--save DIR]\n");
		return 2;
	}
	if (since == UINT64_MAX)
		since = v.cursor.next;
	info = malloc(sizeof(*info));
	run = calloc(JSEG_MAX_ENTRIES, sizeof(*run));
	if (!info || !run || file_read(argv[optind + 1], ENROL_MAX, &bundle, &len) < 0 ||
	    enrol_verify(bundle, len, info) < 0) {
		fprintf(stderr, "jseg_tool: cannot read a verified enrolment bundle from %s\n", argv[optind + 1]);
		goto out;
	}
	memcpy(v.identity_pub, info->identity_pub, WRIT_P256_PUB_LEN);
	memcpy(v.hsm_id, info->hsm_id, WRIT_KEYID_LEN);
	v.event = on_event;
	v.ctx = &c;
	if (hsmc_connect(argv[optind], &fd) < 0) {
		fprintf(stderr, "jseg_tool: cannot connect to %s\n", argv[optind]);
		goto out;
	}
	/* everything the HSM has from since on, in batches */
	do {
		cbor_item_t *arr = NULL;
		err = hsmc_journal(fd, since + n, HSMP_JOURNAL_BATCH_MAX, &arr, &hsm_next, reason);
		if (err < 0) {
			fprintf(stderr, "jseg_tool: journal: %s: %s\n", writ_strerror(err), reason);
			goto out;
		}
		batches[nb++] = arr;
		for (i = 0; i < cbor_array_size(arr) && n < JSEG_MAX_ENTRIES; i++, n++) {
			cbor_item_t *b = cbor_array_handle(arr)[i];
			run[n].bytes = cbor_bytestring_handle(b);
			run[n].len = cbor_bytestring_length(b);
		}
		if (cbor_array_size(arr) == 0)
			break;
	} while (since + n < hsm_next && n < JSEG_MAX_ENTRIES && nb < sizeof(batches) / sizeof(batches[0]));
	for (i = 0; save && i < n; i++) {
		char path[4096];
		if (snprintf(path, sizeof(path), "%s/%06llu.entry", save, (unsigned long long)(since + i)) >=
			    (int)sizeof(path) ||
		    file_write_atomic(path, run[i].bytes, run[i].len, 0644) < 0) {
			fprintf(stderr, "jseg_tool: cannot write %s\n", path);
			goto out;
		}
	}
	err = jseg_verify(&v, run, n, &r, &why);
	if (err < 0) {
		printf("refused %s %s: %s\n", writ_strerror(err), fault_name(why.fault), why.text);
		rc = 1;
		goto out;
	}
	hex_encode(r.cursor.hash, 32, hex);
	printf("accepted %zu duplicates %zu tail %zu next %llu hash %s dac %u reissue %u wrap %u writ %u/%u\n",
	       r.accepted, r.duplicates, r.tail, (unsigned long long)r.cursor.next, hex, c.dac, c.reissue, c.wrap,
	       c.writ_ok, c.writ);
	rc = 0;
out:
	for (i = 0; i < nb; i++)
		cbor_decref(&batches[i]);
	if (fd >= 0)
		close(fd);
	free(bundle);
	free(info);
	free(run);
	return rc;
}
