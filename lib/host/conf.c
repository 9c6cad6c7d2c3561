/* SPDX-License-Identifier: Apache-2.0 */
/* The module/token record of writ's programs (see conf.h) and path joining. */
#include <stdio.h>
#include <string.h>

#include "host/conf.h"
#include "host/file.h"

int path_join(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= cap ? WRIT_E_TOOBIG : 0;
}

static void take(const char *line, const char *key, const char **field, char *buf)
{
	size_t k = strlen(key);

	if (*field || strncmp(line, key, k) != 0 || line[k] != '=')
		return;
	if (snprintf(buf, CONF_VALUE_MAX, "%s", line + k + 1) < CONF_VALUE_MAX)
		*field = buf;
}

void token_conf_load(struct token_conf *c, const char *path, const char *default_token)
{
	char line[CONF_VALUE_MAX + 16];
	FILE *f = fopen(path, "r");

	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		take(line, "module", &c->module, c->module_buf);
		take(line, "token", &c->token, c->token_buf);
	}
	if (f)
		fclose(f);
	if (!c->token)
		c->token = default_token;
}

int token_conf_save(const struct token_conf *c, const char *path, const char *default_module)
{
	char buf[2 * CONF_VALUE_MAX + 32];
	int n;

	n = snprintf(buf, sizeof(buf), "module=%s\ntoken=%s\n", c->module ? c->module : default_module,
		     c->token ? c->token : "");
	if (n < 0 || (size_t)n >= sizeof(buf))
		return WRIT_E_TOOBIG;
	return file_write_atomic(path, buf, (size_t)n, 0600);
}
