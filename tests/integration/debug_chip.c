/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Secure debug on a simulated chip, host side: a real writ-devsim process (libwrit-device)
 * driven through lib/chip. It provisions and locks the chip with throw-away keys
 * (OpenSSL, device/devsim/hostsim.c), burns a debug root hash, then unlocks debug with a
 * root -> delegate certificate and a token over the chip's challenge, checks STATUS,
 * locks, shows a replayed token refused, and that the unlock does not survive a devsim
 * restart while the key generation does (also in `writ-devsim --show`).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/wdp.h"
#include "chip/chip.h"
#include "hostsim.h"

static int fails;
#define CHECK(cond, what)                                                                          \
	do {                                                                                       \
		if (cond)                                                                          \
			printf("ok: %s\n", what);                                                  \
		else {                                                                             \
			printf("FAIL: %s (line %d)\n", what, __LINE__);                            \
			fails++;                                                                   \
		}                                                                                  \
	} while (0)
#define MUST(cond, what)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			printf("FAIL: %s (line %d): %s\n", what, __LINE__, c ? chip_last_detail(c) : ""); \
			goto out;                                                                  \
		}                                                                                  \
	} while (0)

static char dir[] = "/tmp/writ-debug-XXXXXX";
static char devsim[4096], state[4200], sock[4200], addr[4300], outf[4200];

static pid_t start_devsim(void)
{
	pid_t pid;

	unlink(outf);
	fflush(stdout); /* the child must not write our buffered lines again */
	pid = fork();
	if (pid == 0) {
		FILE *o = freopen(outf, "w", stdout);
		(void)o;
		execl(devsim, devsim, "--state", state, "--uid", "00112233445566778899AABBCCDDEEFF", "--listen", addr,
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		FILE *f = fopen(outf, "r");
		char line[64] = "";
		if (f) {
			int ok = fgets(line, sizeof line, f) != NULL && strncmp(line, "ready ", 6) == 0;
			fclose(f);
			if (ok)
				return pid;
		}
		usleep(25000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

static void stop_devsim(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
}

int main(void)
{
	const char *bin = getenv("WRIT_BIN");
	struct chip *c = NULL;
	struct chip_info info;
	struct chip_debug dbg;
	EVP_PKEY *pai_key = NULL, *sb_key = NULL, *root = NULL, *deleg = NULL;
	uint8_t csr[WDP_CSR_MAX], enc_pub[65], binding[WDP_BINDING_MAX], pai[WDP_CERT_MAX], dac[WDP_CERT_MAX];
	uint8_t fd[WDP_FACTORY_DATA_MAX], sb_pub[65], sb_hash[32], root_pub[65], root_hash[32], deleg_pub[65];
	uint8_t img[5000], sig[64], uid[16], chal[32], cert[WDP_DBG_CERT_LEN], token[WDP_DBG_TOKEN_LEN], perms[16];
	size_t csr_len, blen, pai_len, dac_len, fd_len;
	struct hs_dbg_cert_in ci;
	uint64_t now = (uint64_t)time(NULL);
	pid_t pid = -1;
	uint8_t lc;

	if (!bin || !mkdtemp(dir)) {
		printf("FAIL: WRIT_BIN unset or no temp dir\n");
		return 1;
	}
	snprintf(devsim, sizeof devsim, "%s/writ-devsim", bin);
	snprintf(state, sizeof state, "%s/c.state", dir);
	snprintf(sock, sizeof sock, "%s/c.sock", dir);
	snprintf(addr, sizeof addr, "unix:%s", sock);
	snprintf(outf, sizeof outf, "%s/out", dir);
	MUST((pid = start_devsim()) > 0, "writ-devsim starts");
	MUST(chip_new(addr, NULL, &c) == 0 && chip_connect(c, &info) == 0, "connect");
	/* provision and lock, with the debug root's hash burnt */
	MUST((pai_key = hs_key_new(NULL)) && (sb_key = hs_key_new(sb_pub)) && (root = hs_key_new(root_pub)) &&
		     (deleg = hs_key_new(deleg_pub)),
	     "keys");
	MUST(hs_sha256(sb_pub, 65, sb_hash) == 0 && hs_sha256(root_pub, 65, root_hash) == 0, "hashes");
	MUST(chip_generate_keys(c, csr, &csr_len, enc_pub, binding, &blen) == 0, "GENERATE_KEYS");
	MUST(hs_make_pai(pai_key, "debug test PAI", pai, sizeof pai, &pai_len) == 0 &&
		     hs_issue_dac(pai_key, NULL, pai, pai_len, csr, csr_len, dac, sizeof dac, &dac_len) == 0,
	     "DAC");
	MUST(chip_store_chain(c, dac, dac_len, pai, pai_len) == 0, "STORE_CHAIN");
	MUST(hs_make_wfd(dac, dac_len, pai, pai_len, fd, sizeof fd, &fd_len) == 0 &&
		     chip_store_factory_data(c, fd, fd_len) == 0,
	     "STORE_FACTORY_DATA");
	MUST(chip_burn_otp(c, sb_hash, root_hash) == 0, "BURN_OTP");
	for (size_t i = 0; i < sizeof img; i++)
		img[i] = (uint8_t)(i * 7u);
	MUST(hs_sign_fw(sb_key, 1, img, sizeof img, sig) == 0 &&
		     chip_firmware(c, 1, sb_pub, img, sizeof img, sig, NULL, NULL) == 0,
	     "firmware");
	MUST(chip_lock(c, &lc) == 0 && lc == WDP_LC_SECURED, "LOCK");
	/* the debug root issues a delegate; the delegate signs a token over the challenge */
	memset(&ci, 0, sizeof ci);
	ci.role = WDP_DBG_ROLE_DELEGATE;
	ci.vendor_id = 0xFFF1;
	ci.product_id = 0x8000;
	ci.key_gen = 1;
	ci.not_before = now - 60;
	ci.not_after = now + 3600;
	ci.perms[15] = 0x07;
	memset(ci.hsm_id, 0x5a, sizeof ci.hsm_id);
	MUST(hs_dbg_cert(root, &ci, deleg_pub, cert) == 0, "delegate certificate");
	memset(perms, 0, sizeof perms);
	perms[15] = 0x01;
	MUST(chip_debug_challenge(c, uid, chal) == 0, "DEBUG_CHALLENGE");
	CHECK(memcmp(uid, info.uid, 16) == 0, "the challenge carries the chip's UID");
	MUST(hs_dbg_token(deleg, uid, now - 5, now + 600, perms, 120, chal, token) == 0, "token");
	MUST(chip_debug_unlock(c, root_pub, cert, sizeof cert, token, &dbg) == 0, "DEBUG_UNLOCK");
	CHECK(dbg.perms[15] == 0x01 && dbg.seconds > 100 && dbg.seconds <= 120 && dbg.key_gen == 1,
	      "unlock grants the requested permissions for the session");
	MUST(chip_status(c, &info) == 0, "STATUS");
	CHECK((info.state & WDP_F_DEBUG_UNLOCKED) && info.debug_perms[15] == 0x01 && info.debug_seconds > 0,
	      "STATUS reports debug unlocked");
	MUST(chip_debug_lock(c) == 0, "DEBUG_LOCK");
	MUST(chip_status(c, &info) == 0, "STATUS");
	CHECK(!(info.state & WDP_F_DEBUG_UNLOCKED) && info.debug_seconds == 0 && info.debug_key_gen == 1,
	      "STATUS reports debug locked after DEBUG_LOCK");
	CHECK(chip_debug_unlock(c, root_pub, cert, sizeof cert, token, NULL) < 0 &&
		      chip_last_status(c) == WDP_S_SEQUENCE && strstr(chip_last_detail(c), "replayed") != NULL,
	      "a replayed token is refused");
	/* unlock again, then restart the simulator: the unlock was RAM only */
	MUST(chip_debug_challenge(c, NULL, chal) == 0 &&
		     hs_dbg_token(deleg, uid, now - 5, now + 600, perms, 120, chal, token) == 0 &&
		     chip_debug_unlock(c, root_pub, cert, sizeof cert, token, NULL) == 0,
	     "unlock again");
	stop_devsim(pid);
	MUST((pid = start_devsim()) > 0, "writ-devsim restarts");
	MUST(chip_connect(c, NULL) == 0 && chip_status(c, &info) == 0, "STATUS after restart");
	CHECK(!(info.state & WDP_F_DEBUG_UNLOCKED) && info.debug_key_gen == 1,
	      "a restart ends the unlock; the key generation persists");
	chip_close(c);
	c = NULL;
	/* the same through `writ chip debug` */
	{
		static char cmd[32768];
		char buf[256], hex[2 * WDP_DBG_CHALLENGE_LEN + 1] = "", path[4300];
		int saw = 0;
		FILE *p;

		snprintf(cmd, sizeof cmd, "'%s/writ' chip debug challenge --connect '%s'", bin, addr);
		p = popen(cmd, "r");
		while (p && fgets(buf, sizeof buf, p))
			if (strncmp(buf, "challenge ", 10) == 0 && strlen(buf) == 10 + 64 + 1)
				memcpy(hex, buf + 10, 64);
		CHECK(p && pclose(p) == 0 && hex[0], "writ chip debug challenge");
		for (size_t i = 0; i < 32 && hex[0]; i++) {
			unsigned v = 0;
			if (sscanf(hex + 2 * i, "%2x", &v) != 1)
				break;
			chal[i] = (uint8_t)v;
		}
		MUST(hs_dbg_token(deleg, uid, now - 5, now + 600, perms, 120, chal, token) == 0, "token");
		snprintf(path, sizeof path, "%s/chain.bin", dir);
		p = fopen(path, "wb");
		MUST(p && fwrite(cert, 1, sizeof cert, p) == sizeof cert && fclose(p) == 0, "chain file");
		snprintf(path, sizeof path, "%s/token.bin", dir);
		p = fopen(path, "wb");
		MUST(p && fwrite(token, 1, sizeof token, p) == sizeof token && fclose(p) == 0, "token file");
		snprintf(path, sizeof path, "%s/root.pub", dir);
		p = fopen(path, "wb");
		MUST(p && fwrite(root_pub, 1, sizeof root_pub, p) == sizeof root_pub && fclose(p) == 0, "root file");
		snprintf(cmd, sizeof cmd,
			 "'%s/writ' chip debug unlock --connect '%s' --root-pub '%s/root.pub' --chain '%s/chain.bin' "
			 "--token '%s/token.bin' && '%s/writ' chip debug status --connect '%s' && '%s/writ' chip debug "
			 "lock --connect '%s'",
			 bin, addr, dir, dir, dir, bin, addr, bin, addr);
		p = popen(cmd, "r");
		while (p && fgets(buf, sizeof buf, p))
			saw += strcmp(buf, "debug unlocked\n") == 0;
		CHECK(p && pclose(p) == 0 && saw == 2, "writ chip debug unlock, status, lock");
		snprintf(cmd, sizeof cmd, "'%s/writ' chip debug unlock --connect '%s' --root-pub '%s/root.pub' "
			 "--chain '%s/chain.bin' --token '%s/token.bin' 2>&1",
			 bin, addr, dir, dir, dir);
		saw = 0;
		p = popen(cmd, "r");
		while (p && fgets(buf, sizeof buf, p))
			saw |= strstr(buf, "replayed") != NULL;
		CHECK(p && pclose(p) != 0 && saw, "writ chip debug unlock refuses a replay");
	}
	stop_devsim(pid);
	pid = -1;
	{
		char cmd[8500], buf[256];
		int saw_locked = 0, saw_gen = 0;
		FILE *p;

		snprintf(cmd, sizeof cmd, "'%s' --state '%s' --show", devsim, state);
		p = popen(cmd, "r");
		while (p && fgets(buf, sizeof buf, p)) {
			saw_locked |= strcmp(buf, "debug: locked\n") == 0;
			saw_gen |= strcmp(buf, "debug_key_gen: 1\n") == 0;
		}
		CHECK(p && pclose(p) == 0 && saw_locked && saw_gen, "writ-devsim --show prints the debug state");
	}
out:
	stop_devsim(pid);
	chip_close(c);
	EVP_PKEY_free(pai_key);
	EVP_PKEY_free(sb_key);
	EVP_PKEY_free(root);
	EVP_PKEY_free(deleg);
	{
		char cmd[4200];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fails++;
	}
	printf("%s\n", fails ? "FAILED" : "PASSED");
	return fails ? 1 : 0;
}
