/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File helpers for daemons and the CLI: bounded whole-file reads, atomic durable
 * writes (temp file + fsync + rename + fsync of the directory), hex encoding.
 */
#ifndef WRIT_HOST_FILE_H
#define WRIT_HOST_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Read a whole file of at most max bytes into malloc'd memory (plus a NUL byte not
 * counted in *ret_len). WRIT_E_TOOBIG if larger, WRIT_E_NOTFOUND if missing. */
WRIT_MUST_CHECK int file_read(const char *path, size_t max, uint8_t **ret, size_t *ret_len);

/* Write data to path atomically and durably with the given mode. */
WRIT_MUST_CHECK int file_write_atomic(const char *path, const void *data, size_t len, unsigned mode);

/* fsync the directory that holds path (after a create or rename). */
WRIT_MUST_CHECK int file_fsync_dir(const char *path);

/*
 * A command-line byte-string argument: min..max bytes (max <= 256) given either as hex
 * digits on the command line, or as a file holding them raw or as hex text (a trailing
 * line break allowed after hex only: a raw key may well end in 0x0a). Writes out and
 * *ret_len only on success; WRIT_E_FORMAT otherwise (the caller says which option).
 */
WRIT_MUST_CHECK int arg_bytes(const char *arg, size_t min, size_t max, uint8_t *out, size_t *ret_len);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void hex_encode(const uint8_t *in, size_t n, char *out);
/* Decode exactly n bytes of hex (upper or lower case); WRIT_E_FORMAT otherwise. */
/* The value of one hex digit (either case), or -1. */
int hex_nibble(char c);
WRIT_MUST_CHECK int hex_decode(const char *hex, uint8_t *out, size_t n);

#endif
