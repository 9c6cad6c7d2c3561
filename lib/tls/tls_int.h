/* SPDX-License-Identifier: Apache-2.0 */
/* lib/tls's internal state shared by its files; not for use outside lib/tls. */
#ifndef WRIT_TLS_TLS_INT_H
#define WRIT_TLS_TLS_INT_H

#include <limits.h>
#include <pthread.h>

#include <gnutls/gnutls.h>

#include "tls/tls.h"

struct tls_global {
	pthread_mutex_t lock;
	int p11_ready, have_pin;
	char module[PATH_MAX];
	char pin[128]; /* mlock'ed, wiped by tls_cleanup */
};
extern struct tls_global tls_g;

int tls_der_fingerprint(const gnutls_datum_t *der, uint8_t ret_fp[32]);
/* Read a small text file into a malloc'd NUL-terminated buffer (at most max bytes).
 * With secret set, refuse a file readable by group or other (WRIT_E_AUTH). */
int tls_read_file(const char *path, size_t max, int secret, char **ret, size_t *ret_len);
void tls_server_cleanup(void);
void tls_client_cleanup(void);

#endif
