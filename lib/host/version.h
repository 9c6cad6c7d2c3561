/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The version a factory-side program reports (`--version`, writ-factory's GET
 * /v1/health): the VERSION file next to its executable, which both ways of installing
 * write (a release staged by `writ-factory update` into PREFIX/versions/V, a Debian
 * package into /opt/writ/versions/V; docs/releases.md), else the version it was built
 * as. Plain libc: writ-devsim links this and nothing else of lib/host.
 */
#ifndef WRIT_HOST_VERSION_H
#define WRIT_HOST_VERSION_H

/* The version string, 1..32 of [0-9A-Za-z.+-]; a static buffer, valid for the life
 * of the process, read once (thread-safe). A VERSION file that is missing, unreadable
 * or holds anything else is ignored. */
const char *host_version(void);

/* `PROGRAM --version`: "name version\n" on stdout. */
void host_version_print(const char *name);

#endif
