/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which PKCS#11 module and token a program uses. Its init command records them in a
 * small "module=" / "token=" file in its directory (writ-hsmd's hsmd.conf, the
 * authority's authority.conf); later commands read them back, and a flag given on the
 * command line wins over the file. Also path joining for such directories.
 */
#ifndef WRIT_HOST_CONF_H
#define WRIT_HOST_CONF_H

#include <stddef.h>

#include "base/err.h"

#define CONF_VALUE_MAX 4096

struct token_conf {
	const char *module; /* NULL = the build's default module */
	const char *token;  /* NULL until set by a flag, the file or a default */
	char module_buf[CONF_VALUE_MAX];
	char token_buf[CONF_VALUE_MAX];
};

/* dir + "/" + name into out; WRIT_E_TOOBIG if it does not fit. */
WRIT_MUST_CHECK int path_join(char *out, size_t cap, const char *dir, const char *name);

/* Fill the fields still NULL from the file at path (missing file: nothing changes),
 * then default the token label to default_token. */
void token_conf_load(struct token_conf *c, const char *path, const char *default_token);

/* Record c's module (default_module when NULL) and token at path, atomically. */
WRIT_MUST_CHECK int token_conf_save(const struct token_conf *c, const char *path, const char *default_module);

#endif
