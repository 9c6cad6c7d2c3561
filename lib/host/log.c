/* SPDX-License-Identifier: Apache-2.0 */
/* stderr logging with a program name and a level filter; one write per line. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "host/log.h"

static const char *log_program = "writ";
static enum log_level log_max = LOG_LVL_INFO;

void log_init(const char *program, enum log_level max_level)
{
	log_program = program;
	log_max = max_level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	char line[1024];
	va_list ap;
	int n, m;

	if (level > log_max)
		return;
	n = snprintf(line, sizeof(line), "%s: %s: ", log_program, names[level]);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2; /* truncated: still end the line */
	line[n++] = '\n';
	/* a single write keeps lines from threads whole */
	(void)!write(STDERR_FILENO, line, (size_t)n);
}
