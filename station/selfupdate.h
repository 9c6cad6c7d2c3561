/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-station taking a new version of itself between devices (docs/releases.md). The
 * factory-side programs are installed as PREFIX/versions/V/<program> with a VERSION file
 * next to them and PREFIX/current -> versions/V, switched by `writ-factory update`.
 * A station started from such a layout runs as two processes: a small supervisor, which
 * never touches a chip, the network or the token, and the line itself (a child, confined
 * by seccomp, which forbids exec). When PREFIX/current names another VERSION than the
 * running one, the line finishes the devices at hand, hands what it did over to the
 * supervisor (counts and the ports it finished) and exits with SELFUPDATE_EXIT; the
 * supervisor then execs PREFIX/current/<program> with the same arguments, and the new
 * version goes on where the old one stopped. Outside that layout nothing of this runs.
 */
#ifndef WRIT_STATION_SELFUPDATE_H
#define WRIT_STATION_SELFUPDATE_H

#include <limits.h>
#include <stddef.h>

#include "base/err.h"

#define SELFUPDATE_EXIT 75         /* the line's exit: "exec the new version" */
#define SELFUPDATE_VERSION_MAX 40
#define SELFUPDATE_CARRY_MAX (64u << 20)

struct selfupdate {
	int active;                               /* installed under PREFIX/versions/V */
	char prefix[PATH_MAX];
	char program[64];                         /* the executable's file name */
	char version[SELFUPDATE_VERSION_MAX + 1]; /* VERSION next to the running program */
	int carry_fd;                             /* the line: where the hand-over goes (-1: none) */
};

/* Look at /proc/self/exe: PREFIX/versions/V/PROGRAM with PREFIX/versions/V/VERSION and
 * PREFIX/current a symlink. su->active = 1 when so, else 0 (never an error). */
void selfupdate_detect(struct selfupdate *su);

/* 1 when PREFIX/current holds a VERSION other than the running one and an executable
 * PROGRAM (its version into out), 0 when not or unreadable. */
int selfupdate_changed(const struct selfupdate *su, char out[SELFUPDATE_VERSION_MAX + 1]);

/*
 * Become the supervisor: fork; the child (the line) returns 0 with su->carry_fd set, and
 * dies with the supervisor (PR_SET_PDEATHSIG). The supervisor forwards SIGINT and SIGTERM
 * to the line, waits for it, and exits with its status, or on SELFUPDATE_EXIT execs the
 * new version with argv and the hand-over (a memfd named by $WRIT_STATION_CARRY_FD); it
 * never returns. A negative error (fork failed) when the line must run unsupervised.
 */
WRIT_MUST_CHECK int selfupdate_supervise(struct selfupdate *su, char **argv);

/* The hand-over's text: "writ-station-carry 1 DONE OK FAILED ALREADY PAUSES\n" (numbers
 * 0..100000000, OK + FAILED + ALREADY = DONE), then "port ADDR\n" per finished port
 * (ADDR 1..SELFUPDATE_ADDR_MAX printable bytes). */
#define SELFUPDATE_ADDR_MAX 299
struct selfupdate_carry {
	size_t done, ok, failed, already, pauses;
};
/* Check text[0..len) (need not be NUL-terminated) whole, then fill *ret and, when port is
 * not NULL, call port(ctx, addr) for each finished port (addr NUL-terminated, valid
 * during the call; a negative return stops with that error). WRIT_E_FORMAT when
 * malformed: then nothing was called and *ret is untouched. */
WRIT_MUST_CHECK int selfupdate_parse_carry(const char *text, size_t len, struct selfupdate_carry *ret,
					   int (*port)(void *ctx, const char *addr), void *ctx);

/* The hand-over the previous version left ($WRIT_STATION_CARRY_FD), read once and
 * unset: *ret_text (malloc'd, NUL-terminated, the caller frees) or NULL when none.
 * A negative error when it is named but unreadable. */
WRIT_MUST_CHECK int selfupdate_take_carry(char **ret_text);

#endif
