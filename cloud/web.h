/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The dashboard's files, compiled into writ-cloud (cloud/embed_web.cmake writes
 * web_assets.c from the files in cloud/web), and how they are served: outside /v1, GET or HEAD
 * only, with the security headers docs/cloud-api.md lists ("Dashboard").
 */
#ifndef WRIT_CLOUD_WEB_H
#define WRIT_CLOUD_WEB_H

#include <stddef.h>

struct web_asset {
	const char *path;          /* "/app.js" */
	const char *content_type;
	const unsigned char *data; /* static, NUL-terminated after len bytes */
	size_t len;
};

extern const struct web_asset web_assets[];
extern const unsigned web_assets_count;

/* The asset for a URL path ("/" is /index.html), or NULL. The query is not part of
 * url (libmicrohttpd splits it off). */
const struct web_asset *web_find(const char *url);

struct MHD_Connection;
/* Answer a request outside /v1: the asset, 304 when If-None-Match names its ETag, 405
 * for a method other than GET/HEAD, 404 otherwise. Returns the libmicrohttpd result. */
int web_serve(struct MHD_Connection *conn, const char *url, const char *method);

#endif
