/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A factory site as the packages install it (docs/operations.md, "Install a factory"):
 * the configuration in /etc/writ (KEY=VALUE files the start wrappers source too), the
 * services writ-hsmd and writ-factory, and the two commands that work on the whole
 * site: `writ-factory enrol --cloud URL --code CODE` (site.c) and `writ-factory
 * doctor` (doctor.c).
 */
#ifndef WRIT_FACTORY_SITE_H
#define WRIT_FACTORY_SITE_H

#include <stddef.h>

#include "base/err.h"
#include "factory/factory.h"

#define SITE_CONF_DIR "/etc/writ"
#define SITE_LIBEXEC "/usr/libexec/writ"
#define SITE_UNIT_DIR "/lib/systemd/system"
#define SITE_UPDATE_TIMER "writ-factory-update.timer" /* the updater's rounds (docs/releases.md) */

/* Where everything of a site is, from CONF/hsmd.conf, CONF/factory.conf and
 * CONF/cloud.conf; a key a file lacks keeps the packages' default. */
struct site {
	char conf_dir[FACTORY_PATH_MAX];
	char hsmd_state[FACTORY_PATH_MAX], hsmd_socket[FACTORY_PATH_MAX];
	char pin_file[FACTORY_PATH_MAX], so_pin_file[FACTORY_PATH_MAX], softhsm_conf[FACTORY_PATH_MAX];
	char hsmd_init_args[1024]; /* words added to `writ-hsmd init` (e.g. --module, --token) */
	char factory_state[FACTORY_PATH_MAX], listen[256], cloud_token[FACTORY_PATH_MAX];
	char doctor_token[FACTORY_PATH_MAX];
	/* the factory's own TLS (factory/tls.h): its folder, and its token's PIN files and
	 * SoftHSM2 store (writ-factory's, apart from the edge HSM's) */
	char tls_dir[FACTORY_PATH_MAX], tls_pin_file[FACTORY_PATH_MAX], tls_so_pin_file[FACTORY_PATH_MAX];
	char tls_softhsm_conf[FACTORY_PATH_MAX];
	char tls_hosts[512]; /* names added to the server certificate's (this host's name, localhost, 127.0.0.1) */
	char cloud_url[1024]; /* "" before the site is enrolled */
	char release_key[FACTORY_PATH_MAX]; /* the updater's pin of the release key (WRIT_UPDATE_RELEASE_KEY) */
};

/* Read VALUE of KEY from a KEY=VALUE file (shell syntax without expansion: one pair a
 * line, '#' comments, optional surrounding quotes). 0 found, WRIT_E_NOTFOUND when the
 * file or the key is absent, WRIT_E_TOOBIG when the value does not fit cap. */
WRIT_MUST_CHECK int site_conf_get(const char *path, const char *key, char *out, size_t cap);

/* Fill s from conf_dir's files (missing files and keys: the defaults). */
WRIT_MUST_CHECK int site_load(const char *conf_dir, struct site *s);

/* writ-factory enrol --cloud URL (--code C | --code-file F) without --hsm: the whole
 * setup of a site after install. Returns the exit code. */
int site_enrol(struct cloud_cmd *o, const char *conf_dir);

/* writ-factory doctor: returns 0 all good, 1 warnings, 2 failures (3: usage). */
struct doctor_opts {
	const char *conf_dir;
	const char *hsm, *hsmd_state, *state, *factory_url, *factory_token_file, *cloud;
	long long min_free_mb, tolerance;
	int json;
};
int site_doctor(const struct doctor_opts *o);

#endif
