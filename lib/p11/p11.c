/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PKCS#11 layer: module loading (dlopen + C_GetFunctionList, shared per process and
 * reference counted so that C_Initialize/C_Finalize pair up across contexts), token
 * selection by label, user login, P-256 key generation as sensitive non-extractable token
 * objects, a pool of logged-in sessions so that signing, ECDH and random bytes may be
 * requested from many threads, and the single translation of CK_RV into writ_err
 * (p11_err). The only attributes this file ever reads are CKA_EC_POINT of a public key,
 * CKA_ID, CKA_SIGN and CKA_DERIVE, and CKA_CLASS then CKA_VALUE of the temporary secret-key
 * object an ECDH derive creates; it never asks for a private key's value.
 */
#include "p11/p11.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <p11-kit/pkcs11.h>

#include "base/ct.h"

#ifndef WRIT_DEFAULT_P11_MODULE
#define WRIT_DEFAULT_P11_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#endif

/* Upper bound on sessions one context keeps open; threads beyond it wait for a free one. */
#define P11_SESSIONS_MAX 32
/* Upper bound on slots looked at; real deployments have a handful. */
#define P11_SLOTS_MAX 256
/* Objects looked at when searching by label: more than one private key is an error. */
#define P11_FIND_MAX 4

/* DER of the OID prime256v1 (1.2.840.10045.3.1.7), the value of CKA_EC_PARAMS. */
static const uint8_t p11_oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };

/*
 * A token this process is logged in to. PKCS#11 login state belongs to the application,
 * not to a session, so a second p11_open of the same token cannot C_Login again (the
 * module answers CKR_USER_ALREADY_LOGGED_IN without looking at the PIN). The PIN is
 * checked against a salted digest of the one that logged in instead. Anyone able to read
 * that digest from this process could use the logged-in token directly anyway.
 */
struct p11_login {
	struct p11_login *next;
	CK_SLOT_ID slot;
	uint8_t salt[16];
	uint8_t digest[32];
	unsigned refs; /* contexts using this login */
};

/* One loaded module, shared by every context and p11_token_init call in the process. */
struct p11_module {
	struct p11_module *next;
	void *dl;
	CK_FUNCTION_LIST_PTR fl;
	unsigned refs;
	bool we_initialized; /* false if someone else in the process called C_Initialize */
	bool one_session;    /* a module known to fail concurrent operations (p11_quirks) */
	struct p11_login *logins;
};

/* Guards the module list, reference counts and logins. */
static pthread_mutex_t p11_modules_lock = PTHREAD_MUTEX_INITIALIZER;
static struct p11_module *p11_modules;

enum p11_view { P11_VIEW_SIGN, P11_VIEW_ECDH };

/* A reference to one private key, the ctx of a signer/ECDH view. Lives until p11_close. */
struct p11_key {
	struct p11_key *next;
	struct p11_ctx *ctx;
	enum p11_view view;
	CK_OBJECT_HANDLE priv;
	uint8_t pub[WRIT_P256_PUB_LEN];
	char label[P11_LABEL_MAX + 1];
};

struct p11_ctx {
	struct p11_module *mod;
	CK_FUNCTION_LIST_PTR fl;
	CK_SLOT_ID slot;

	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t cond;  /* signalled when a session returns to the pool */
	CK_SESSION_HANDLE open[P11_SESSIONS_MAX]; /* every session this ctx opened */
	size_t nopen;
	size_t nopening; /* slots reserved by threads inside C_OpenSession */
	size_t max_sessions;
	CK_SESSION_HANDLE idle[P11_SESSIONS_MAX]; /* free list (stack) */
	size_t nidle;
	struct p11_key *keys;

	pthread_mutex_t keygen_lock; /* makes "label unused, then generate" atomic */
	unsigned lacks; /* P11_LACKS_* bits found by p11_probe at open; read-only after */
};

/* What writ needs from a token, probed once at p11_open (C_GetMechanismList,
 * C_GetMechanismInfo, the token's CKF_RNG flag). */
#define P11_LACKS_KEYGEN 1u /* CKM_EC_KEY_PAIR_GEN with CKF_GENERATE_KEY_PAIR and CKF_EC_* */
#define P11_LACKS_ECDSA 2u  /* CKM_ECDSA with CKF_SIGN */
#define P11_LACKS_ECDH 4u   /* CKM_ECDH1_DERIVE with CKF_DERIVE */
#define P11_LACKS_RNG 8u    /* CKF_RNG: C_GenerateRandom */

static const struct {
	unsigned bit;
	const char *what;
} p11_needs[] = {
	{ P11_LACKS_KEYGEN, "this token lacks CKM_EC_KEY_PAIR_GEN (P-256 key pair generation)" },
	{ P11_LACKS_ECDSA, "this token lacks CKM_ECDSA (signing)" },
	{ P11_LACKS_ECDH, "this token lacks CKM_ECDH1_DERIVE (ECDH key derivation)" },
	{ P11_LACKS_RNG, "this token lacks C_GenerateRandom (no CKF_RNG)" },
};

/*
 * The one translation of CK_RV into writ_err. Everything that talks to the module passes
 * its result through here.
 */
static int p11_err(CK_RV rv)
{
	switch (rv) {
	case CKR_OK:
		return WRIT_OK;
	case CKR_HOST_MEMORY:
	case CKR_DEVICE_MEMORY:
		return WRIT_E_NOMEM;
	case CKR_PIN_INCORRECT:
	case CKR_PIN_LEN_RANGE:
	case CKR_PIN_INVALID:
	case CKR_PIN_EXPIRED:
	case CKR_PIN_LOCKED:
	case CKR_USER_NOT_LOGGED_IN:
	case CKR_USER_PIN_NOT_INITIALIZED:
	case CKR_USER_TYPE_INVALID:
		return WRIT_E_AUTH;
	case CKR_MECHANISM_INVALID:
	case CKR_FUNCTION_NOT_SUPPORTED:
	case CKR_KEY_FUNCTION_NOT_PERMITTED:
	case CKR_KEY_TYPE_INCONSISTENT:
	case CKR_RANDOM_NO_RNG:
	case CKR_CURVE_NOT_SUPPORTED:
		return WRIT_E_UNSUPPORTED;
	case CKR_ARGUMENTS_BAD:
	case CKR_ATTRIBUTE_TYPE_INVALID:
	case CKR_ATTRIBUTE_VALUE_INVALID:
	case CKR_DATA_LEN_RANGE:
	case CKR_DOMAIN_PARAMS_INVALID:
	case CKR_MECHANISM_PARAM_INVALID:
	case CKR_TEMPLATE_INCOMPLETE:
	case CKR_TEMPLATE_INCONSISTENT:
		return WRIT_E_INVAL;
	case CKR_SLOT_ID_INVALID:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_TOKEN_NOT_RECOGNIZED:
	case CKR_OBJECT_HANDLE_INVALID:
	case CKR_KEY_HANDLE_INVALID:
		return WRIT_E_NOTFOUND;
	case CKR_SIGNATURE_INVALID:
	case CKR_SIGNATURE_LEN_RANGE:
		return WRIT_E_BADSIG;
	case CKR_USER_ALREADY_LOGGED_IN:
	case CKR_USER_ANOTHER_ALREADY_LOGGED_IN:
	case CKR_OPERATION_ACTIVE:
	case CKR_SESSION_READ_ONLY:
	case CKR_TOKEN_WRITE_PROTECTED:
	case CKR_CRYPTOKI_NOT_INITIALIZED:
	case CKR_SESSION_EXISTS:
		return WRIT_E_STATE;
	default:
		return WRIT_E_TOKEN;
	}
}

/* True for results after which a session handle is no longer usable. */
static bool p11_session_dead(CK_RV rv)
{
	return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED || rv == CKR_DEVICE_REMOVED ||
	       rv == CKR_TOKEN_NOT_PRESENT;
}

/* label -> 32-byte blank-padded CK_UTF8CHAR field. WRIT_E_INVAL if empty or too long. */
static int p11_pad_label(const char *label, CK_UTF8CHAR ret_pad[P11_LABEL_MAX])
{
	size_t n;

	if (!label)
		return WRIT_E_INVAL;
	n = strnlen(label, P11_LABEL_MAX + 1);
	if (n == 0 || n > P11_LABEL_MAX)
		return WRIT_E_INVAL;
	memset(ret_pad, ' ', P11_LABEL_MAX);
	memcpy(ret_pad, label, n);
	return 0;
}

/* A key label (CKA_LABEL, not padded): non-empty, at most P11_LABEL_MAX bytes. */
static int p11_check_key_label(const char *label)
{
	size_t n;

	if (!label)
		return WRIT_E_INVAL;
	n = strnlen(label, P11_LABEL_MAX + 1);
	if (n == 0 || n > P11_LABEL_MAX)
		return WRIT_E_INVAL;
	return 0;
}

/* A buffer that will hold a PIN is locked in RAM first, so the PIN never reaches swap,
 * and wiped with p11_pin_wipe. mlock is best effort: a failure (RLIMIT_MEMLOCK) changes
 * nothing else. The pages stay locked: these buffers live on the stack, a nested call
 * locks its own buffer on the same pages, and munlock works per page, so unlocking one
 * buffer would unlock its caller's. A few stack pages stay resident; nothing else. */
static void p11_pin_lock(void *buf, size_t len)
{
	memset(buf, 0, len); /* and the pages are present before they are locked */
	(void)mlock(buf, len);
}

static void p11_pin_wipe(void *buf, size_t len)
{
	writ_memzero(buf, len);
}

/* Copy a PIN into a buffer the module may take as non-const (locked: p11_pin_wipe it).
 * *ret_len excludes the NUL. */
static int p11_pin_copy(const char *pin, CK_UTF8CHAR ret_buf[P11_PIN_MAX], CK_ULONG *ret_len)
{
	size_t n;

	if (!pin)
		return WRIT_E_INVAL;
	n = strnlen(pin, P11_PIN_MAX);
	if (n == 0)
		return WRIT_E_INVAL;
	if (n >= P11_PIN_MAX)
		return WRIT_E_TOOBIG;
	p11_pin_lock(ret_buf, P11_PIN_MAX);
	memcpy(ret_buf, pin, n);
	*ret_len = (CK_ULONG)n;
	return 0;
}

/* ---- modules ---------------------------------------------------------------------- */

/* Load (or share) the module at path and make sure it is initialised. */
/*
 * Modules that take several sessions but fail when they are used at once. tpm2-pkcs11
 * 1.9 (Debian 12), signing on 4 threads with a session each: about one run in three has
 * a C_Sign fail with CKR_GENERAL_ERROR and leave its session with an operation active
 * (tests/integration/hsm_p11.sh). For these lib/p11 uses one session per context, so
 * threads take turns; the TPM executes one command at a time anyway.
 */
static bool p11_quirk_one_session(CK_FUNCTION_LIST_PTR fl)
{
	static const char tpm2_pkcs11[] = "tpm2-software.github.io";
	CK_INFO info;

	if (fl->C_GetInfo(&info) != CKR_OK)
		return false;
	return memcmp(info.manufacturerID, tpm2_pkcs11, sizeof(tpm2_pkcs11) - 1) == 0;
}

static int p11_module_get(const char *path, struct p11_module **ret)
{
	CK_C_INITIALIZE_ARGS init_args;
	CK_C_GetFunctionList get_fl;
	CK_FUNCTION_LIST_PTR fl = NULL;
	struct p11_module *m;
	void *dl;
	CK_RV rv;
	int r;

	if (!path)
		path = WRIT_DEFAULT_P11_MODULE;
	/* RTLD_NODELETE: tokens commonly keep process-wide state (C++ singletons, OpenSSL
	 * handles) that does not survive being unloaded and loaded again. */
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (!dl)
		return WRIT_E_NOTFOUND;

	pthread_mutex_lock(&p11_modules_lock);
	for (m = p11_modules; m; m = m->next)
		if (m->dl == dl)
			break;
	if (m) {
		m->refs++;
		pthread_mutex_unlock(&p11_modules_lock);
		dlclose(dl); /* m holds its own reference */
		*ret = m;
		return 0;
	}

	get_fl = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList");
	if (!get_fl) {
		r = WRIT_E_UNSUPPORTED;
		goto fail;
	}
	rv = get_fl(&fl);
	if (rv != CKR_OK || !fl) {
		r = rv != CKR_OK ? p11_err(rv) : WRIT_E_TOKEN;
		goto fail;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		r = WRIT_E_NOMEM;
		goto fail;
	}
	memset(&init_args, 0, sizeof(init_args));
	init_args.flags = CKF_OS_LOCKING_OK;
	rv = fl->C_Initialize(&init_args);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		free(m);
		r = p11_err(rv);
		goto fail;
	}
	m->dl = dl;
	m->fl = fl;
	m->refs = 1;
	m->we_initialized = rv == CKR_OK;
	m->one_session = p11_quirk_one_session(fl);
	m->next = p11_modules;
	p11_modules = m;
	pthread_mutex_unlock(&p11_modules_lock);
	*ret = m;
	return 0;

fail:
	pthread_mutex_unlock(&p11_modules_lock);
	dlclose(dl);
	return r;
}

static void p11_module_put(struct p11_module *m)
{
	struct p11_module **pp;

	if (!m)
		return;
	pthread_mutex_lock(&p11_modules_lock);
	if (--m->refs > 0) {
		pthread_mutex_unlock(&p11_modules_lock);
		return;
	}
	for (pp = &p11_modules; *pp; pp = &(*pp)->next)
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	if (m->we_initialized)
		(void)m->fl->C_Finalize(NULL);
	pthread_mutex_unlock(&p11_modules_lock);
	dlclose(m->dl);
	free(m);
}

/*
 * Find slots with a token present. With want_label, the first slot whose token is
 * initialised and carries that label; without, the first slot whose token is not
 * initialised. WRIT_E_NOTFOUND if none.
 */
static int p11_find_slot(CK_FUNCTION_LIST_PTR fl, const CK_UTF8CHAR *want_label, CK_SLOT_ID *ret_slot)
{
	CK_SLOT_ID slots[P11_SLOTS_MAX];
	CK_ULONG nslots = P11_SLOTS_MAX, i;
	CK_TOKEN_INFO info;
	CK_RV rv;

	rv = fl->C_GetSlotList(CK_TRUE, slots, &nslots);
	if (rv == CKR_BUFFER_TOO_SMALL)
		return WRIT_E_TOOBIG;
	if (rv != CKR_OK)
		return p11_err(rv);
	for (i = 0; i < nslots; i++) {
		rv = fl->C_GetTokenInfo(slots[i], &info);
		if (rv != CKR_OK)
			continue; /* a token removed meanwhile does not hide the others */
		if (want_label) {
			if ((info.flags & CKF_TOKEN_INITIALIZED) && memcmp(info.label, want_label, P11_LABEL_MAX) == 0) {
				*ret_slot = slots[i];
				return 0;
			}
		} else if (!(info.flags & CKF_TOKEN_INITIALIZED)) {
			*ret_slot = slots[i];
			return 0;
		}
	}
	return WRIT_E_NOTFOUND;
}

/* ---- PINs ------------------------------------------------------------------------- */

/* Read at most P11_PIN_MAX bytes of path into buf; *ret_n bytes were read. */
static int p11_read_pin_file(const char *path, char buf[P11_PIN_MAX + 1], size_t *ret_n)
{
	size_t n = 0;
	ssize_t k;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errno == ENOENT ? WRIT_E_NOTFOUND : WRIT_E_IO;
	/* one byte more than a PIN may have, to tell "too long" from "exactly full" */
	while (n < P11_PIN_MAX + 1) {
		k = read(fd, buf + n, P11_PIN_MAX + 1 - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = WRIT_E_IO;
			goto out;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	*ret_n = n;
out:
	close(fd);
	return r;
}

int p11_pin_load(const char *pin_file, const char *env_name, char ret_pin[P11_PIN_MAX])
{
	char buf[P11_PIN_MAX + 1];
	const char *env;
	size_t n = 0, len;
	int r;

	if (!ret_pin)
		return WRIT_E_INVAL;
	p11_pin_lock(buf, sizeof(buf));
	if (pin_file) {
		r = p11_read_pin_file(pin_file, buf, &n);
		if (r < 0)
			goto out;
	} else {
		env = env_name ? getenv(env_name) : NULL;
		if (!env || !*env) {
			r = WRIT_E_NOTFOUND;
			goto out;
		}
		n = strnlen(env, P11_PIN_MAX + 1);
		memcpy(buf, env, n);
	}
	/* the first line only: stop at the first newline, drop a CR before it */
	for (len = 0; len < n && buf[len] != '\n'; len++)
		;
	if (len == n && n > P11_PIN_MAX - 1) {
		r = WRIT_E_TOOBIG;
		goto out;
	}
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if (len == 0 || len > P11_PIN_MAX - 1) {
		r = len == 0 ? WRIT_E_FORMAT : WRIT_E_TOOBIG;
		goto out;
	}
	if (memchr(buf, '\0', len)) {
		r = WRIT_E_FORMAT;
		goto out;
	}
	memcpy(ret_pin, buf, len);
	ret_pin[len] = '\0';
	r = 0;
out:
	p11_pin_wipe(buf, sizeof(buf));
	return r;
}

/* ---- token initialisation --------------------------------------------------------- */

int p11_token_init(const char *module_path, const char *label, const char *so_pin, const char *user_pin)
{
	CK_UTF8CHAR pad[P11_LABEL_MAX];
	CK_UTF8CHAR so[P11_PIN_MAX], user[P11_PIN_MAX];
	CK_ULONG so_len = 0, user_len = 0;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	struct p11_module *m = NULL;
	CK_FUNCTION_LIST_PTR fl = NULL;
	CK_SLOT_ID slot;
	bool logged_in = false;
	CK_RV rv;
	int r;

	r = p11_pad_label(label, pad);
	if (r < 0)
		goto out;
	r = p11_pin_copy(so_pin, so, &so_len);
	if (r < 0)
		goto out;
	r = p11_pin_copy(user_pin, user, &user_len);
	if (r < 0)
		goto out;
	r = p11_module_get(module_path, &m);
	if (r < 0)
		goto out;
	fl = m->fl;

	r = p11_find_slot(fl, pad, &slot);
	if (r == 0) {
		r = WRIT_E_EXISTS;
		goto out;
	}
	if (r != WRIT_E_NOTFOUND)
		goto out;
	r = p11_find_slot(fl, NULL, &slot);
	if (r < 0)
		goto out;

	rv = fl->C_InitToken(slot, so, so_len, pad);
	if (rv != CKR_OK) {
		r = p11_err(rv);
		goto out;
	}
	rv = fl->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
	if (rv != CKR_OK) {
		r = p11_err(rv);
		goto out;
	}
	rv = fl->C_Login(s, CKU_SO, so, so_len);
	if (rv != CKR_OK) {
		r = p11_err(rv);
		goto out;
	}
	logged_in = true;
	rv = fl->C_InitPIN(s, user, user_len);
	if (rv != CKR_OK) {
		r = p11_err(rv);
		goto out;
	}
	r = 0;
out:
	if (logged_in)
		(void)fl->C_Logout(s);
	if (s != CK_INVALID_HANDLE)
		(void)fl->C_CloseSession(s);
	p11_module_put(m);
	p11_pin_wipe(so, sizeof(so));
	p11_pin_wipe(user, sizeof(user));
	return r;
}

/* ---- logins ----------------------------------------------------------------------- */

static int p11_pin_digest(const uint8_t salt[16], const CK_UTF8CHAR *pin, CK_ULONG pin_len, uint8_t ret[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int len = 0;
	int ok;

	if (!md)
		return WRIT_E_NOMEM;
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(md, salt, 16) == 1 &&
	     EVP_DigestUpdate(md, pin, pin_len) == 1 && EVP_DigestFinal_ex(md, ret, &len) == 1 && len == 32;
	EVP_MD_CTX_free(md);
	return ok ? 0 : WRIT_E_CRYPTO;
}

/* Log in as user through session s, or check the PIN against the existing login of the
 * same token by another context. Counts one more user of the login on success. */
static int p11_login_acquire(struct p11_module *m, CK_SLOT_ID slot, CK_SESSION_HANDLE s, CK_UTF8CHAR *pin,
			     CK_ULONG pin_len)
{
	struct p11_login *l;
	uint8_t digest[32];
	CK_RV rv;
	int r;

	pthread_mutex_lock(&p11_modules_lock);
	for (l = m->logins; l; l = l->next)
		if (l->slot == slot)
			break;
	if (l) {
		r = p11_pin_digest(l->salt, pin, pin_len, digest);
		if (r == 0 && !writ_ct_memeq(digest, l->digest, sizeof(digest)))
			r = WRIT_E_AUTH;
		if (r == 0)
			l->refs++;
		goto out;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		r = WRIT_E_NOMEM;
		goto out;
	}
	if (RAND_bytes(l->salt, sizeof(l->salt)) != 1 || p11_pin_digest(l->salt, pin, pin_len, l->digest) < 0) {
		free(l);
		r = WRIT_E_CRYPTO;
		goto out;
	}
	/* CKR_USER_ALREADY_LOGGED_IN here means code outside lib/p11 logged in: the PIN
	 * cannot be checked, so it maps to WRIT_E_STATE rather than success */
	rv = m->fl->C_Login(s, CKU_USER, pin, pin_len);
	if (rv != CKR_OK) {
		writ_memzero(l, sizeof(*l));
		free(l);
		r = p11_err(rv);
		goto out;
	}
	l->slot = slot;
	l->refs = 1;
	l->next = m->logins;
	m->logins = l;
	r = 0;
out:
	pthread_mutex_unlock(&p11_modules_lock);
	writ_memzero(digest, sizeof(digest));
	return r;
}

/* ---- session pool ----------------------------------------------------------------- */

/* Take a logged-in session, opening one if the pool is below its bound, else waiting. */
static int p11_session_get(struct p11_ctx *ctx, CK_SESSION_HANDLE *ret)
{
	CK_SESSION_HANDLE s;
	CK_RV rv;

	pthread_mutex_lock(&ctx->lock);
	while (ctx->nidle == 0 && ctx->nopen + ctx->nopening >= ctx->max_sessions)
		pthread_cond_wait(&ctx->cond, &ctx->lock);
	if (ctx->nidle > 0) {
		*ret = ctx->idle[--ctx->nidle];
		pthread_mutex_unlock(&ctx->lock);
		return 0;
	}
	ctx->nopening++;
	pthread_mutex_unlock(&ctx->lock);

	/* Login state belongs to the application, so a new session of the same application
	 * is logged in already while any other one is open and logged in. */
	rv = ctx->fl->C_OpenSession(ctx->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);

	pthread_mutex_lock(&ctx->lock);
	ctx->nopening--;
	if (rv == CKR_OK)
		ctx->open[ctx->nopen++] = s;
	else
		pthread_cond_signal(&ctx->cond); /* the reserved place is free again */
	pthread_mutex_unlock(&ctx->lock);
	if (rv != CKR_OK)
		return p11_err(rv);
	*ret = s;
	return 0;
}

/* Return a session to the pool; rv is the last result seen on it (a dead one is dropped). */
static void p11_session_put(struct p11_ctx *ctx, CK_SESSION_HANDLE s, CK_RV rv)
{
	size_t i;

	pthread_mutex_lock(&ctx->lock);
	if (p11_session_dead(rv)) {
		for (i = 0; i < ctx->nopen; i++)
			if (ctx->open[i] == s) {
				ctx->open[i] = ctx->open[--ctx->nopen];
				break;
			}
		pthread_mutex_unlock(&ctx->lock);
		(void)ctx->fl->C_CloseSession(s);
		pthread_mutex_lock(&ctx->lock);
	} else {
		ctx->idle[ctx->nidle++] = s;
	}
	pthread_cond_signal(&ctx->cond);
	pthread_mutex_unlock(&ctx->lock);
}

/* ---- open / close ----------------------------------------------------------------- */

/* The P11_LACKS_* bits of the token in slot: each mechanism writ uses must be listed
 * by C_GetMechanismList and have the flag writ uses it for in C_GetMechanismInfo. */
static unsigned p11_probe(CK_FUNCTION_LIST_PTR fl, CK_SLOT_ID slot, const CK_TOKEN_INFO *info)
{
	static const struct {
		CK_MECHANISM_TYPE mech;
		CK_FLAGS flags;
		unsigned bit;
	} want[] = {
		{ CKM_EC_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR, P11_LACKS_KEYGEN },
		{ CKM_ECDSA, CKF_SIGN, P11_LACKS_ECDSA },
		{ CKM_ECDH1_DERIVE, CKF_DERIVE, P11_LACKS_ECDH },
	};
	CK_MECHANISM_TYPE *list = NULL;
	CK_MECHANISM_INFO mi;
	CK_ULONG n = 0, i;
	unsigned lacks = 0;
	size_t w;
	bool listed;

	if (!(info->flags & CKF_RNG))
		lacks |= P11_LACKS_RNG;
	if (fl->C_GetMechanismList(slot, NULL, &n) != CKR_OK || n == 0 || n > 4096 ||
	    !(list = calloc(n, sizeof(*list))) || fl->C_GetMechanismList(slot, list, &n) != CKR_OK)
		n = 0;
	for (w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
		listed = false;
		for (i = 0; i < n && !listed; i++)
			listed = list[i] == want[w].mech;
		if (!listed || fl->C_GetMechanismInfo(slot, want[w].mech, &mi) != CKR_OK ||
		    (mi.flags & want[w].flags) != want[w].flags)
			lacks |= want[w].bit;
	}
	free(list);
	return lacks;
}

const char *p11_lacks(const struct p11_ctx *ctx, unsigned usage)
{
	unsigned need = P11_LACKS_KEYGEN | P11_LACKS_RNG;
	size_t i;

	if (!ctx)
		return NULL;
	if (usage & P11_USAGE_SIGN)
		need |= P11_LACKS_ECDSA;
	if (usage & P11_USAGE_DERIVE)
		need |= P11_LACKS_ECDH;
	for (i = 0; i < sizeof(p11_needs) / sizeof(p11_needs[0]); i++)
		if (ctx->lacks & need & p11_needs[i].bit)
			return p11_needs[i].what;
	return NULL;
}

int p11_open(const char *module_path, const char *token_label, const char *pin, struct p11_ctx **ret)
{
	CK_UTF8CHAR pad[P11_LABEL_MAX];
	CK_UTF8CHAR pinbuf[P11_PIN_MAX];
	CK_ULONG pin_len = 0;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_TOKEN_INFO info;
	struct p11_ctx *ctx = NULL;
	bool locks = false;
	CK_RV rv;
	int r;

	if (!ret) {
		r = WRIT_E_INVAL;
		goto fail;
	}
	r = p11_pad_label(token_label, pad);
	if (r < 0)
		goto fail;
	r = p11_pin_copy(pin, pinbuf, &pin_len);
	if (r < 0)
		goto fail;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		r = WRIT_E_NOMEM;
		goto fail;
	}
	if (pthread_mutex_init(&ctx->lock, NULL) != 0) {
		r = WRIT_E_NOMEM;
		goto fail;
	}
	if (pthread_cond_init(&ctx->cond, NULL) != 0) {
		pthread_mutex_destroy(&ctx->lock);
		r = WRIT_E_NOMEM;
		goto fail;
	}
	if (pthread_mutex_init(&ctx->keygen_lock, NULL) != 0) {
		pthread_cond_destroy(&ctx->cond);
		pthread_mutex_destroy(&ctx->lock);
		r = WRIT_E_NOMEM;
		goto fail;
	}
	locks = true;
	r = p11_module_get(module_path, &ctx->mod);
	if (r < 0)
		goto fail;
	ctx->fl = ctx->mod->fl;
	r = p11_find_slot(ctx->fl, pad, &ctx->slot);
	if (r < 0)
		goto fail;

	ctx->max_sessions = P11_SESSIONS_MAX;
	rv = ctx->fl->C_GetTokenInfo(ctx->slot, &info);
	if (rv != CKR_OK) {
		r = p11_err(rv);
		goto fail;
	}
	if (info.ulMaxRwSessionCount != CK_EFFECTIVELY_INFINITE &&
	    info.ulMaxRwSessionCount != CK_UNAVAILABLE_INFORMATION && info.ulMaxRwSessionCount < ctx->max_sessions)
		ctx->max_sessions = info.ulMaxRwSessionCount;
	if (ctx->max_sessions == 0 || ctx->mod->one_session)
		ctx->max_sessions = 1;
	ctx->lacks = p11_probe(ctx->fl, ctx->slot, &info);

	rv = ctx->fl->C_OpenSession(ctx->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
	if (rv != CKR_OK) {
		r = p11_err(rv);
		goto fail;
	}
	r = p11_login_acquire(ctx->mod, ctx->slot, s, pinbuf, pin_len);
	if (r < 0)
		goto fail;
	/* the login session stays open (in the pool) for the ctx's lifetime; closing the
	 * last session of the application would log it out */
	ctx->open[ctx->nopen++] = s;
	ctx->idle[ctx->nidle++] = s;
	p11_pin_wipe(pinbuf, sizeof(pinbuf));
	*ret = ctx;
	return 0;

fail:
	p11_pin_wipe(pinbuf, sizeof(pinbuf));
	if (ctx) {
		if (s != CK_INVALID_HANDLE)
			(void)ctx->fl->C_CloseSession(s);
		p11_module_put(ctx->mod);
		if (locks) {
			pthread_mutex_destroy(&ctx->keygen_lock);
			pthread_cond_destroy(&ctx->cond);
			pthread_mutex_destroy(&ctx->lock);
		}
		free(ctx);
	}
	return r;
}

void p11_close(struct p11_ctx *ctx)
{
	struct p11_login **pp, *l;
	struct p11_key *k, *next;
	size_t i;

	if (!ctx)
		return;
	/* No C_Logout: it would log out other contexts on the same token. Closing the
	 * application's last session of the token logs out. The sessions are closed under
	 * the lock so that a concurrent p11_open cannot rely on a login that is going away. */
	pthread_mutex_lock(&p11_modules_lock);
	for (i = 0; i < ctx->nopen; i++)
		(void)ctx->fl->C_CloseSession(ctx->open[i]);
	for (pp = &ctx->mod->logins; *pp; pp = &(*pp)->next)
		if ((*pp)->slot == ctx->slot)
			break;
	l = *pp;
	if (l && --l->refs == 0) {
		*pp = l->next;
		writ_memzero(l, sizeof(*l));
		free(l);
	}
	pthread_mutex_unlock(&p11_modules_lock);
	for (k = ctx->keys; k; k = next) {
		next = k->next;
		writ_memzero(k, sizeof(*k));
		free(k);
	}
	p11_module_put(ctx->mod);
	pthread_mutex_destroy(&ctx->keygen_lock);
	pthread_cond_destroy(&ctx->cond);
	pthread_mutex_destroy(&ctx->lock);
	free(ctx);
}

/* ---- objects ---------------------------------------------------------------------- */

static int p11_sha256(const uint8_t *data, size_t n, uint8_t ret_digest[32])
{
	unsigned int len = 0;

	if (EVP_Digest(data, n, ret_digest, &len, EVP_sha256(), NULL) != 1 || len != 32)
		return WRIT_E_CRYPTO;
	return 0;
}

/* CKA_EC_POINT as a DER OCTET STRING (04 41 04 X Y), or raw as some older modules give
 * it, to the 65-byte uncompressed point. */
static int p11_unwrap_point(const uint8_t *der, size_t len, uint8_t ret_pub[WRIT_P256_PUB_LEN])
{
	if (len == WRIT_P256_PUB_LEN + 2 && der[0] == 0x04 && der[1] == WRIT_P256_PUB_LEN && der[2] == 0x04) {
		memcpy(ret_pub, der + 2, WRIT_P256_PUB_LEN);
		return 0;
	}
	if (len == WRIT_P256_PUB_LEN && der[0] == 0x04) {
		memcpy(ret_pub, der, WRIT_P256_PUB_LEN);
		return 0;
	}
	return WRIT_E_FORMAT;
}

/* Find up to P11_FIND_MAX objects of class cls matching the attribute (type, data, len). */
static CK_RV p11_find(struct p11_ctx *ctx, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, CK_ATTRIBUTE_TYPE type,
		      const void *data, size_t len, CK_OBJECT_HANDLE ret_objs[P11_FIND_MAX], CK_ULONG *ret_n)
{
	CK_ATTRIBUTE tmpl[2] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ type, (void *)data, (CK_ULONG)len },
	};
	CK_RV rv, rv2;

	rv = ctx->fl->C_FindObjectsInit(s, tmpl, 2);
	if (rv != CKR_OK)
		return rv;
	rv = ctx->fl->C_FindObjects(s, ret_objs, P11_FIND_MAX, ret_n);
	rv2 = ctx->fl->C_FindObjectsFinal(s);
	return rv != CKR_OK ? rv : rv2;
}

/*
 * Locate the key pair named label: its private key handle, its public point (from the
 * public key with the same CKA_ID), checked against the CKA_ID. *ret_rv is the last
 * CK_RV seen, for the session pool.
 */
static int p11_lookup(struct p11_ctx *ctx, CK_SESSION_HANDLE s, const char *label, CK_OBJECT_HANDLE *ret_priv,
		      uint8_t ret_pub[WRIT_P256_PUB_LEN], CK_RV *ret_rv)
{
	CK_OBJECT_HANDLE objs[P11_FIND_MAX];
	CK_ULONG n = 0;
	uint8_t id[WRIT_KEYID_LEN], kid[WRIT_KEYID_LEN];
	uint8_t point[WRIT_P256_PUB_LEN + 8], pub[WRIT_P256_PUB_LEN];
	CK_ATTRIBUTE attr;
	CK_OBJECT_HANDLE priv;
	CK_RV rv;
	int r;

	rv = p11_find(ctx, s, CKO_PRIVATE_KEY, CKA_LABEL, label, strlen(label), objs, &n);
	*ret_rv = rv;
	if (rv != CKR_OK)
		return p11_err(rv);
	if (n == 0)
		return WRIT_E_NOTFOUND;
	if (n > 1)
		return WRIT_E_TOKEN; /* two private keys share a label: refuse to guess */
	priv = objs[0];

	attr = (CK_ATTRIBUTE){ CKA_ID, id, sizeof(id) };
	rv = ctx->fl->C_GetAttributeValue(s, priv, &attr, 1);
	*ret_rv = rv;
	if (rv != CKR_OK)
		return rv == CKR_BUFFER_TOO_SMALL ? WRIT_E_FORMAT : p11_err(rv);
	if (attr.ulValueLen != sizeof(id))
		return WRIT_E_FORMAT;

	rv = p11_find(ctx, s, CKO_PUBLIC_KEY, CKA_ID, id, sizeof(id), objs, &n);
	*ret_rv = rv;
	if (rv != CKR_OK)
		return p11_err(rv);
	if (n == 0)
		return WRIT_E_NOTFOUND;
	if (n > 1)
		return WRIT_E_TOKEN;

	attr = (CK_ATTRIBUTE){ CKA_EC_POINT, point, sizeof(point) };
	rv = ctx->fl->C_GetAttributeValue(s, objs[0], &attr, 1);
	*ret_rv = rv;
	if (rv != CKR_OK)
		return rv == CKR_BUFFER_TOO_SMALL ? WRIT_E_FORMAT : p11_err(rv);
	r = p11_unwrap_point(point, attr.ulValueLen, pub);
	if (r < 0)
		return r;
	r = p11_sha256(pub, sizeof(pub), kid);
	if (r < 0)
		return r;
	if (!writ_ct_memeq(kid, id, sizeof(id)))
		return WRIT_E_FORMAT; /* CKA_ID is not the key id of this point */
	*ret_priv = priv;
	memcpy(ret_pub, pub, WRIT_P256_PUB_LEN);
	return 0;
}

int p11_find_key(struct p11_ctx *ctx, const char *label, uint8_t ret_pub[WRIT_P256_PUB_LEN])
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE priv;
	CK_RV rv = CKR_OK;
	int r;

	if (!ctx || !ret_pub || p11_check_key_label(label) < 0)
		return WRIT_E_INVAL;
	r = p11_session_get(ctx, &s);
	if (r < 0)
		return r;
	r = p11_lookup(ctx, s, label, &priv, ret_pub, &rv);
	p11_session_put(ctx, s, rv);
	return r;
}

int p11_keygen_p256(struct p11_ctx *ctx, const char *label, unsigned usage, uint8_t ret_pub[WRIT_P256_PUB_LEN])
{
	CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_BBOOL sign = (usage & P11_USAGE_SIGN) ? CK_TRUE : CK_FALSE;
	CK_BBOOL derive = (usage & P11_USAGE_DERIVE) ? CK_TRUE : CK_FALSE;
	CK_OBJECT_CLASS pub_cls = CKO_PUBLIC_KEY, priv_cls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = CKK_EC;
	CK_OBJECT_HANDLE objs[P11_FIND_MAX], hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;
	CK_ULONG n = 0, label_len;
	uint8_t point[WRIT_P256_PUB_LEN + 8], pub[WRIT_P256_PUB_LEN], kid[WRIT_KEYID_LEN];
	CK_ATTRIBUTE attr, set_id;
	CK_SESSION_HANDLE s;
	CK_RV rv = CKR_OK;
	bool have_session = false, locked = false;
	int r;

	if (!ctx || !ret_pub || p11_check_key_label(label) < 0)
		return WRIT_E_INVAL;
	if (usage == 0 || (usage & ~(unsigned)(P11_USAGE_SIGN | P11_USAGE_DERIVE)))
		return WRIT_E_INVAL;
	if (p11_lacks(ctx, usage))
		return WRIT_E_UNSUPPORTED;
	label_len = (CK_ULONG)strlen(label);

	CK_ATTRIBUTE pub_tmpl[] = {
		{ CKA_CLASS, &pub_cls, sizeof(pub_cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &no, sizeof(no) },
		{ CKA_VERIFY, &sign, sizeof(sign) },
		{ CKA_EC_PARAMS, (void *)p11_oid_p256, sizeof(p11_oid_p256) },
		{ CKA_LABEL, (void *)label, label_len },
	};
	CK_ATTRIBUTE priv_tmpl[] = {
		{ CKA_CLASS, &priv_cls, sizeof(priv_cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_SIGN, &sign, sizeof(sign) },
		{ CKA_DERIVE, &derive, sizeof(derive) },
		{ CKA_LABEL, (void *)label, label_len },
	};

	pthread_mutex_lock(&ctx->keygen_lock);
	locked = true;
	r = p11_session_get(ctx, &s);
	if (r < 0)
		goto out;
	have_session = true;

	rv = p11_find(ctx, s, CKO_PRIVATE_KEY, CKA_LABEL, label, label_len, objs, &n);
	if (rv != CKR_OK) {
		r = p11_err(rv);
		goto out;
	}
	if (n > 0) {
		r = WRIT_E_EXISTS;
		goto out;
	}

	rv = ctx->fl->C_GenerateKeyPair(s, &mech, pub_tmpl, sizeof(pub_tmpl) / sizeof(pub_tmpl[0]), priv_tmpl,
					sizeof(priv_tmpl) / sizeof(priv_tmpl[0]), &hpub, &hpriv);
	if (rv != CKR_OK) {
		r = p11_err(rv);
		goto fail;
	}
	attr = (CK_ATTRIBUTE){ CKA_EC_POINT, point, sizeof(point) };
	rv = ctx->fl->C_GetAttributeValue(s, hpub, &attr, 1);
	if (rv != CKR_OK) {
		r = rv == CKR_BUFFER_TOO_SMALL ? WRIT_E_FORMAT : p11_err(rv);
		goto fail;
	}
	r = p11_unwrap_point(point, attr.ulValueLen, pub);
	if (r < 0)
		goto fail;
	r = p11_sha256(pub, sizeof(pub), kid);
	if (r < 0)
		goto fail;
	/* the key id depends on the point, so CKA_ID is set once the pair exists */
	set_id = (CK_ATTRIBUTE){ CKA_ID, kid, sizeof(kid) };
	rv = ctx->fl->C_SetAttributeValue(s, hpub, &set_id, 1);
	if (rv == CKR_OK)
		rv = ctx->fl->C_SetAttributeValue(s, hpriv, &set_id, 1);
	if (rv != CKR_OK) {
		r = p11_err(rv);
		goto fail;
	}
	memcpy(ret_pub, pub, WRIT_P256_PUB_LEN);
	r = 0;
	goto out;

fail:
	/* no half-made pair stays behind under a label a retry would find */
	if (hpriv != CK_INVALID_HANDLE)
		(void)ctx->fl->C_DestroyObject(s, hpriv);
	if (hpub != CK_INVALID_HANDLE)
		(void)ctx->fl->C_DestroyObject(s, hpub);
out:
	if (have_session)
		p11_session_put(ctx, s, rv);
	if (locked)
		pthread_mutex_unlock(&ctx->keygen_lock);
	return r;
}

/* ---- views ------------------------------------------------------------------------ */

static int p11_view_sign(void *vk, const uint8_t digest[32], uint8_t ret_sig[WRIT_P256_SIG_LEN]);
static int p11_view_derive(void *vk, const uint8_t peer_pub[WRIT_P256_PUB_LEN], uint8_t ret_z[32]);

/* The key reference for (label, view), made on first use and kept until p11_close. */
static int p11_key_ref(struct p11_ctx *ctx, const char *label, enum p11_view view, struct p11_key **ret)
{
	CK_ATTRIBUTE_TYPE need = view == P11_VIEW_SIGN ? CKA_SIGN : CKA_DERIVE;
	CK_BBOOL allowed = CK_FALSE;
	CK_ATTRIBUTE attr = { need, &allowed, sizeof(allowed) };
	CK_OBJECT_HANDLE priv;
	CK_SESSION_HANDLE s;
	uint8_t pub[WRIT_P256_PUB_LEN];
	struct p11_key *k;
	CK_RV rv = CKR_OK;
	int r;

	if (!ctx || p11_check_key_label(label) < 0)
		return WRIT_E_INVAL;
	if (p11_lacks(ctx, view == P11_VIEW_SIGN ? P11_USAGE_SIGN : P11_USAGE_DERIVE))
		return WRIT_E_UNSUPPORTED;
	pthread_mutex_lock(&ctx->lock);
	for (k = ctx->keys; k; k = k->next)
		if (k->view == view && strcmp(k->label, label) == 0)
			break;
	pthread_mutex_unlock(&ctx->lock);
	if (k) {
		*ret = k;
		return 0;
	}

	r = p11_session_get(ctx, &s);
	if (r < 0)
		return r;
	r = p11_lookup(ctx, s, label, &priv, pub, &rv);
	if (r == 0) {
		rv = ctx->fl->C_GetAttributeValue(s, priv, &attr, 1);
		r = p11_err(rv);
		if (r == 0 && allowed != CK_TRUE)
			r = WRIT_E_UNSUPPORTED; /* the key was not generated for this use */
	}
	p11_session_put(ctx, s, rv);
	if (r < 0)
		return r;

	k = calloc(1, sizeof(*k));
	if (!k)
		return WRIT_E_NOMEM;
	k->ctx = ctx;
	k->view = view;
	k->priv = priv;
	memcpy(k->pub, pub, sizeof(pub));
	memcpy(k->label, label, strlen(label) + 1);

	pthread_mutex_lock(&ctx->lock);
	/* kept even if another thread added the same key meanwhile: both stay valid */
	k->next = ctx->keys;
	ctx->keys = k;
	pthread_mutex_unlock(&ctx->lock);
	*ret = k;
	return 0;
}

int p11_signer(struct p11_ctx *ctx, const char *label, struct writ_signer *ret)
{
	struct p11_key *k;
	int r;

	if (!ret)
		return WRIT_E_INVAL;
	r = p11_key_ref(ctx, label, P11_VIEW_SIGN, &k);
	if (r < 0)
		return r;
	ret->sign = p11_view_sign;
	ret->ctx = k;
	memcpy(ret->pub, k->pub, WRIT_P256_PUB_LEN);
	return 0;
}

int p11_ecdh(struct p11_ctx *ctx, const char *label, struct writ_ecdh *ret)
{
	struct p11_key *k;
	int r;

	if (!ret)
		return WRIT_E_INVAL;
	r = p11_key_ref(ctx, label, P11_VIEW_ECDH, &k);
	if (r < 0)
		return r;
	ret->derive = p11_view_derive;
	ret->ctx = k;
	memcpy(ret->pub, k->pub, WRIT_P256_PUB_LEN);
	return 0;
}

static int p11_view_sign(void *vk, const uint8_t digest[32], uint8_t ret_sig[WRIT_P256_SIG_LEN])
{
	struct p11_key *k = vk;
	struct p11_ctx *ctx;
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	uint8_t dg[32], sig[WRIT_P256_SIG_LEN];
	CK_ULONG sig_len = sizeof(sig);
	CK_SESSION_HANDLE s;
	CK_RV rv;
	int r;

	if (!k || !digest || !ret_sig)
		return WRIT_E_INVAL;
	ctx = k->ctx;
	memcpy(dg, digest, sizeof(dg)); /* C_Sign takes a non-const pointer */
	r = p11_session_get(ctx, &s);
	if (r < 0)
		return r;
	rv = ctx->fl->C_SignInit(s, &mech, k->priv);
	if (rv == CKR_OK)
		rv = ctx->fl->C_Sign(s, dg, sizeof(dg), sig, &sig_len);
	p11_session_put(ctx, s, rv);
	if (rv != CKR_OK)
		return rv == CKR_BUFFER_TOO_SMALL ? WRIT_E_FORMAT : p11_err(rv);
	if (sig_len != WRIT_P256_SIG_LEN)
		return WRIT_E_FORMAT;
	memcpy(ret_sig, sig, WRIT_P256_SIG_LEN);
	return 0;
}

/* CKA_VALUE of the secret-key object an ECDH derive produced, then the object is gone.
 * The object's class is checked first: this never reads a private key. */
static CK_RV p11_take_secret(struct p11_ctx *ctx, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj, uint8_t ret_z[32],
			     int *ret_err)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	uint8_t z[32];
	CK_ATTRIBUTE a_cls = { CKA_CLASS, &cls, sizeof(cls) };
	CK_ATTRIBUTE a_val = { CKA_VALUE, z, sizeof(z) };
	CK_RV rv, rv2;

	*ret_err = 0;
	rv = ctx->fl->C_GetAttributeValue(s, obj, &a_cls, 1);
	if (rv == CKR_OK && cls != CKO_SECRET_KEY)
		*ret_err = WRIT_E_STATE;
	else if (rv == CKR_OK) {
		rv = ctx->fl->C_GetAttributeValue(s, obj, &a_val, 1);
		if (rv == CKR_OK && a_val.ulValueLen != sizeof(z))
			*ret_err = WRIT_E_FORMAT;
	}
	rv2 = ctx->fl->C_DestroyObject(s, obj);
	if (rv == CKR_OK)
		rv = rv2;
	if (rv != CKR_OK && *ret_err == 0)
		*ret_err = rv == CKR_BUFFER_TOO_SMALL ? WRIT_E_FORMAT : p11_err(rv);
	if (*ret_err == 0)
		memcpy(ret_z, z, sizeof(z));
	writ_memzero(z, sizeof(z));
	return rv;
}

static int p11_view_derive(void *vk, const uint8_t peer_pub[WRIT_P256_PUB_LEN], uint8_t ret_z[32])
{
	struct p11_key *k = vk;
	struct p11_ctx *ctx;
	uint8_t peer[WRIT_P256_PUB_LEN], der[WRIT_P256_PUB_LEN + 2];
	CK_ECDH1_DERIVE_PARAMS dp;
	CK_MECHANISM mech;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_ULONG zlen = 32;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_VALUE_LEN, &zlen, sizeof(zlen) },
		{ CKA_TOKEN, &no, sizeof(no) },
		{ CKA_SENSITIVE, &no, sizeof(no) },
		{ CKA_EXTRACTABLE, &yes, sizeof(yes) },
	};
	CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
	CK_SESSION_HANDLE s;
	CK_RV rv;
	int r;

	if (!k || !peer_pub || !ret_z)
		return WRIT_E_INVAL;
	if (peer_pub[0] != 0x04)
		return WRIT_E_FORMAT; /* uncompressed points only; the token checks the curve */
	ctx = k->ctx;
	memcpy(peer, peer_pub, sizeof(peer));

	/* PKCS#11 v2.40 says the raw point; SoftHSM 2.6 accepts raw and DER-wrapped alike */
	memset(&dp, 0, sizeof(dp));
	dp.kdf = CKD_NULL;
	dp.ulSharedDataLen = 0;
	dp.pSharedData = NULL;
	dp.ulPublicDataLen = sizeof(peer);
	dp.pPublicData = peer;
	mech.mechanism = CKM_ECDH1_DERIVE;
	mech.pParameter = &dp;
	mech.ulParameterLen = sizeof(dp);

	r = p11_session_get(ctx, &s);
	if (r < 0)
		return r;
	rv = ctx->fl->C_DeriveKey(s, &mech, k->priv, tmpl, sizeof(tmpl) / sizeof(tmpl[0]), &obj);
	if (rv == CKR_MECHANISM_PARAM_INVALID || rv == CKR_ARGUMENTS_BAD) {
		/* some modules want the point as a DER OCTET STRING, like CKA_EC_POINT */
		der[0] = 0x04;
		der[1] = WRIT_P256_PUB_LEN;
		memcpy(der + 2, peer, sizeof(peer));
		dp.ulPublicDataLen = sizeof(der);
		dp.pPublicData = der;
		rv = ctx->fl->C_DeriveKey(s, &mech, k->priv, tmpl, sizeof(tmpl) / sizeof(tmpl[0]), &obj);
	}
	if (rv == CKR_OK)
		rv = p11_take_secret(ctx, s, obj, ret_z, &r);
	else
		r = p11_err(rv);
	p11_session_put(ctx, s, rv);
	return r;
}

int p11_random(struct p11_ctx *ctx, uint8_t *buf, size_t n)
{
	CK_SESSION_HANDLE s;
	CK_ULONG chunk;
	CK_RV rv = CKR_OK;
	size_t done = 0;
	int r;

	if (!ctx || (!buf && n > 0))
		return WRIT_E_INVAL;
	if (n == 0)
		return 0;
	if (ctx->lacks & P11_LACKS_RNG)
		return WRIT_E_UNSUPPORTED;
	r = p11_session_get(ctx, &s);
	if (r < 0)
		return r;
	while (done < n) {
		chunk = (CK_ULONG)(n - done > 4096 ? 4096 : n - done);
		rv = ctx->fl->C_GenerateRandom(s, buf + done, chunk);
		if (rv != CKR_OK)
			break;
		done += chunk;
	}
	p11_session_put(ctx, s, rv);
	if (rv != CKR_OK) {
		writ_memzero(buf, n); /* no partial output that looks random */
		return p11_err(rv);
	}
	return 0;
}

int p11_open_pins(const char *module_path, const char *token_label, const struct p11_pin_source *src, int create,
		  struct p11_ctx **ret, const char **ret_missing)
{
	char pin[P11_PIN_MAX], so_pin[P11_PIN_MAX];
	int err;

	*ret_missing = NULL;
	p11_pin_lock(pin, sizeof(pin));
	p11_pin_lock(so_pin, sizeof(so_pin));
	if (p11_pin_load(src->pin_file, src->pin_env, pin) < 0) {
		*ret_missing = "PIN";
		p11_pin_wipe(so_pin, sizeof(so_pin));
		p11_pin_wipe(pin, sizeof(pin));
		return WRIT_E_AUTH;
	}
	err = p11_open(module_path, token_label, pin, ret);
	if (err == WRIT_E_NOTFOUND && create) {
		if (p11_pin_load(src->so_pin_file, src->so_pin_env, so_pin) < 0) {
			*ret_missing = "SO PIN";
			err = WRIT_E_AUTH;
		} else {
			err = p11_token_init(module_path, token_label, so_pin, pin);
			if (!err)
				err = p11_open(module_path, token_label, pin, ret);
		}
	}
	p11_pin_wipe(so_pin, sizeof(so_pin));
	p11_pin_wipe(pin, sizeof(pin));
	return err;
}
