/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Serving the dashboard (web.h). The page is static: HTML, one stylesheet and one
 * script, all from this binary; it reads everything through /v1 with the user's token.
 * The Content-Security-Policy allows only those same-origin files (no inline script or
 * style, no eval, no frames, no other origin), so text from the store can never run.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <microhttpd.h>

#include "cloud/web.h"

static const char csp_page[] =
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self';"
	" base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const struct web_asset *web_find(const char *url)
{
	unsigned i;

	if (!strcmp(url, "/"))
		url = "/index.html";
	for (i = 0; i < web_assets_count; i++)
		if (!strcmp(web_assets[i].path, url))
			return &web_assets[i];
	return NULL;
}

/* A strong ETag from the bytes (FNV-1a 64): the files change only with the binary. */
static void etag_of(const struct web_asset *a, char out[24])
{
	uint64_t h = 1469598103934665603ull;
	size_t i;

	for (i = 0; i < a->len; i++) {
		h ^= a->data[i];
		h *= 1099511628211ull;
	}
	(void)!snprintf(out, 24, "\"%016llx\"", (unsigned long long)h);
}

static int plain(struct MHD_Connection *conn, unsigned status, const char *msg)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(msg), (void *)msg, MHD_RESPMEM_PERSISTENT);
	int ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
	if (status == 405)
		MHD_add_response_header(r, "Allow", "GET, HEAD");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

int web_serve(struct MHD_Connection *conn, const char *url, const char *method)
{
	const struct web_asset *a = web_find(url);
	struct MHD_Response *r;
	const char *inm;
	char etag[24];
	unsigned status = 200;
	int ret;

	if (!a)
		return plain(conn, 404, "Not found. The dashboard is at /, the API under /v1/ (docs/cloud-api.md).\n");
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return plain(conn, 405, "The dashboard's files are read with GET.\n");
	etag_of(a, etag);
	inm = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "If-None-Match");
	if (inm && !strcmp(inm, etag)) {
		status = 304;
		r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	} else {
		r = MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
	}
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", a->content_type);
	/* revalidate every time (cheap: 304), so a new binary's page is never mixed with an old script */
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	MHD_add_response_header(r, "ETag", etag);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Content-Security-Policy", csp_page);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}
