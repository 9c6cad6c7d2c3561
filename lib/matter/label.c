/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Device labels. The QR symbol comes from libqrencode (error correction M, mode chosen by
 * the library: the "MT:" alphabet is QR alphanumeric); the PNG text uses a 5x7 bitmap font
 * defined below (our own glyphs, no font library); the SVG draws each dark module as a
 * path square and the text as <text>. Layout: a 4-module quiet zone around the symbol,
 * then two text lines, the grouped manual code and "SN: <serial>".
 */
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <png.h>
#include <qrencode.h>

#include "matter/dbuf.h"
#include "matter/factory.h"
#include "matter/label.h"
#include "matter/payload.h"

#define MODULE_PX 6
#define QUIET 4
#define FONT_SCALE 3
#define GLYPH_W 5
#define GLYPH_H 7
#define CELL_W ((GLYPH_W + 1) * FONT_SCALE)
#define LINE_H ((GLYPH_H + 4) * FONT_SCALE)
#define MARGIN 24

struct glyph {
	char c;
	uint8_t rows[GLYPH_H]; /* bit 4 is the leftmost column */
};

static const struct glyph font[] = {
	{ '0', { 0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E } }, { '1', { 0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E } },
	{ '2', { 0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F } }, { '3', { 0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E } },
	{ '4', { 0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02 } }, { '5', { 0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E } },
	{ '6', { 0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E } }, { '7', { 0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08 } },
	{ '8', { 0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E } }, { '9', { 0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C } },
	{ 'A', { 0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11 } }, { 'B', { 0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E } },
	{ 'C', { 0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E } }, { 'D', { 0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C } },
	{ 'E', { 0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F } }, { 'F', { 0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10 } },
	{ 'G', { 0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F } }, { 'H', { 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11 } },
	{ 'I', { 0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E } }, { 'J', { 0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C } },
	{ 'K', { 0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11 } }, { 'L', { 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F } },
	{ 'M', { 0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11 } }, { 'N', { 0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11 } },
	{ 'O', { 0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E } }, { 'P', { 0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10 } },
	{ 'Q', { 0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D } }, { 'R', { 0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11 } },
	{ 'S', { 0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E } }, { 'T', { 0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04 } },
	{ 'U', { 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E } }, { 'V', { 0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04 } },
	{ 'W', { 0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A } }, { 'X', { 0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11 } },
	{ 'Y', { 0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04 } }, { 'Z', { 0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F } },
	{ '-', { 0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00 } }, { ':', { 0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00 } },
	{ '.', { 0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C } }, { '/', { 0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00 } },
	{ '_', { 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F } }, { '+', { 0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00 } },
	{ '#', { 0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A } }, { ' ', { 0, 0, 0, 0, 0, 0, 0 } },
};

static const struct glyph *glyph_of(char c)
{
	size_t i;

	for (i = 0; i < sizeof(font) / sizeof(font[0]); i++)
		if (font[i].c == c)
			return &font[i];
	return NULL;
}

int matter_label_font_covers(const char *s)
{
	if (!s)
		return 0;
	for (; *s; s++)
		if (!glyph_of(*s))
			return 0;
	return 1;
}

/* Checks shared by both label kinds; writes the grouped manual code. */
static int label_inputs(const char *qr, const char *manual, const char *serial, char fmt[MATTER_MANUAL_FMT_BUFSZ])
{
	struct matter_payload p;

	if (!qr || !manual || !serial || matter_qr_decode(qr, &p) < 0 || !matter_manual_check(manual) ||
	    strnlen(serial, MATTER_SERIAL_MAX + 1) > MATTER_SERIAL_MAX ||
	    !matter_serial_valid(serial, strlen(serial)))
		return WRIT_E_INVAL;
	p.passcode = 0;
	return matter_manual_format(manual, fmt);
}

struct canvas {
	uint8_t *px; /* 8-bit gray, 255 white */
	size_t w, h;
};

static void fill(struct canvas *c, size_t x, size_t y, size_t w, size_t h)
{
	size_t i, j;

	for (j = y; j < y + h && j < c->h; j++)
		for (i = x; i < x + w && i < c->w; i++)
			c->px[j * c->w + i] = 0;
}

static void draw_text(struct canvas *c, size_t x, size_t y, const char *s)
{
	for (; *s; s++, x += CELL_W) {
		const struct glyph *g = glyph_of(*s);
		unsigned r, k;

		if (!g)
			continue;
		for (r = 0; r < GLYPH_H; r++)
			for (k = 0; k < GLYPH_W; k++)
				if (g->rows[r] & (0x10u >> k))
					fill(c, x + k * FONT_SCALE, y + r * FONT_SCALE, FONT_SCALE, FONT_SCALE);
	}
}

static void png_write_cb(png_structp png, png_bytep data, png_size_t n)
{
	struct dbuf *b = png_get_io_ptr(png);

	dbuf_put(b, data, n);
}

static void png_flush_cb(png_structp png)
{
	(void)png;
}

/* Encode the canvas; everything is set up before setjmp, so nothing local changes
 * between setjmp and a longjmp from libpng. */
static int png_encode(const struct canvas *c, png_bytep *rows, struct dbuf *out)
{
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png ? png_create_info_struct(png) : NULL;

	if (!png || !info) {
		png_destroy_write_struct(&png, &info);
		return WRIT_E_NOMEM;
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		return WRIT_E_IO;
	}
	png_set_write_fn(png, out, png_write_cb, png_flush_cb);
	png_set_IHDR(png, info, (png_uint_32)c->w, (png_uint_32)c->h, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	png_write_image(png, rows);
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	return 0;
}

static QRcode *make_qr(const char *qr)
{
	return QRcode_encodeString(qr, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
}

int matter_label_png(const char *qr, const char *manual, const char *serial, uint8_t **ret_buf, size_t *ret_len)
{
	char fmt[MATTER_MANUAL_FMT_BUFSZ], sn[MATTER_SERIAL_MAX + 8];
	struct canvas c = { NULL, 0, 0 };
	png_bytep *rows = NULL;
	QRcode *code = NULL;
	struct dbuf out;
	size_t qr_px, text_w, x0, i, j;
	int err;

	if (!ret_buf || !ret_len)
		return WRIT_E_INVAL;
	err = label_inputs(qr, manual, serial, fmt);
	if (err < 0)
		return err;
	if (!matter_label_font_covers(serial))
		return WRIT_E_INVAL;
	if (snprintf(sn, sizeof(sn), "SN: %s", serial) >= (int)sizeof(sn))
		return WRIT_E_INVAL;
	dbuf_init(&out, 4 * 1024 * 1024);
	code = make_qr(qr);
	if (!code)
		return WRIT_E_NOMEM;
	qr_px = ((size_t)code->width + 2 * QUIET) * MODULE_PX;
	text_w = (strlen(sn) > strlen(fmt) ? strlen(sn) : strlen(fmt)) * CELL_W + 2 * MARGIN;
	c.w = qr_px > text_w ? qr_px : text_w;
	c.h = qr_px + 2 * LINE_H + MARGIN;
	err = WRIT_E_NOMEM;
	c.px = malloc(c.w * c.h);
	rows = malloc(c.h * sizeof(*rows));
	if (!c.px || !rows)
		goto out;
	memset(c.px, 255, c.w * c.h);
	x0 = (c.w - qr_px) / 2 + QUIET * MODULE_PX;
	for (j = 0; j < (size_t)code->width; j++)
		for (i = 0; i < (size_t)code->width; i++)
			if (code->data[j * (size_t)code->width + i] & 1)
				fill(&c, x0 + i * MODULE_PX, QUIET * MODULE_PX + j * MODULE_PX, MODULE_PX, MODULE_PX);
	draw_text(&c, (c.w - strlen(fmt) * CELL_W) / 2, qr_px, fmt);
	draw_text(&c, (c.w - strlen(sn) * CELL_W) / 2, qr_px + LINE_H, sn);
	for (j = 0; j < c.h; j++)
		rows[j] = c.px + j * c.w;
	err = png_encode(&c, rows, &out);
	if (err == 0 && out.err)
		err = out.err;
	if (err == 0) {
		*ret_buf = out.p;
		*ret_len = out.len;
		out.p = NULL;
	}
out:
	dbuf_free(&out);
	free(rows);
	free(c.px);
	QRcode_free(code);
	return err;
}

static void xml_escaped(struct dbuf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			dbuf_str(b, "&amp;");
			break;
		case '<':
			dbuf_str(b, "&lt;");
			break;
		case '>':
			dbuf_str(b, "&gt;");
			break;
		case '"':
			dbuf_str(b, "&quot;");
			break;
		case '\'':
			dbuf_str(b, "&apos;");
			break;
		default:
			dbuf_byte(b, (uint8_t)*s);
		}
	}
}

int matter_label_svg(const char *qr, const char *manual, const char *serial, char **ret_svg, size_t *ret_len)
{
	char fmt[MATTER_MANUAL_FMT_BUFSZ], tmp[160];
	QRcode *code = NULL;
	struct dbuf b;
	size_t qr_units, w, h, i, j;
	int err;

	if (!ret_svg || !ret_len)
		return WRIT_E_INVAL;
	err = label_inputs(qr, manual, serial, fmt);
	if (err < 0)
		return err;
	code = make_qr(qr);
	if (!code)
		return WRIT_E_NOMEM;
	/* user units: one per QR module; text is 2.4 units high */
	qr_units = (size_t)code->width + 2 * QUIET;
	w = qr_units > 40 ? qr_units : 40;
	h = qr_units + 8;
	dbuf_init(&b, 1024 * 1024);
	if (snprintf(tmp, sizeof(tmp),
		     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		     "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %zu %zu\" width=\"%zumm\" "
		     "height=\"%zumm\">\n",
		     w, h, w, h) >= (int)sizeof(tmp)) {
		err = WRIT_E_TOOBIG;
		goto out;
	}
	dbuf_str(&b, tmp);
	dbuf_str(&b, "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n<path fill=\"#000\" d=\"");
	for (j = 0; j < (size_t)code->width; j++)
		for (i = 0; i < (size_t)code->width; i++)
			if (code->data[j * (size_t)code->width + i] & 1) {
				(void)snprintf(tmp, sizeof(tmp), "M%zu %zuh1v1h-1z", (w - qr_units) / 2 + QUIET + i,
					       QUIET + j); /* short: cannot truncate */
				dbuf_str(&b, tmp);
			}
	dbuf_str(&b, "\"/>\n");
	(void)snprintf(tmp, sizeof(tmp),
		       "<text x=\"%zu\" y=\"%zu\" font-family=\"monospace\" font-size=\"2.4\" "
		       "text-anchor=\"middle\">",
		       w / 2, qr_units + 2);
	dbuf_str(&b, tmp);
	dbuf_str(&b, fmt);
	dbuf_str(&b, "</text>\n");
	(void)snprintf(tmp, sizeof(tmp),
		       "<text x=\"%zu\" y=\"%zu\" font-family=\"monospace\" font-size=\"2.4\" "
		       "text-anchor=\"middle\">SN: ",
		       w / 2, qr_units + 5);
	dbuf_str(&b, tmp);
	xml_escaped(&b, serial);
	dbuf_str(&b, "</text>\n</svg>\n");
	dbuf_byte(&b, '\0');
	err = b.err;
	if (err == 0) {
		*ret_svg = (char *)b.p;
		*ret_len = b.len - 1;
		b.p = NULL;
	}
out:
	dbuf_free(&b);
	QRcode_free(code);
	return err;
}
