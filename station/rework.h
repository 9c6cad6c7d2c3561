/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `writ-station rework` (rework.c): one made device reopened under the OEM's rework
 * rights (docs/operations.md, "Rework a device"), and what it shares with station.c.
 */
#ifndef WRIT_STATION_REWORK_H
#define WRIT_STATION_REWORK_H

#include "station/factory_client.h"

/* station.c: read the station's token file (mode 0600, one token); 0 or -1 with a
 * message on stderr. The caller wipes ret. */
int station_read_token(const char *path, char ret[FC_TOKEN_MAX]);

/* rework.c: `writ-station rework ...` (argv[0] is "rework"); the exit code. */
int station_cmd_rework(int argc, char **argv);

/* The usage lines of the rework command, for station --help. */
extern const char station_rework_usage[];

#endif
