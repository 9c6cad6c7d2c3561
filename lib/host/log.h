/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one log module of writ's daemons and CLI. Lines go to stderr as
 * "<program>: <level>: message". Library code logs at debug at most; daemons and the
 * CLI log at their edges. Never pass a PIN or key material to these functions.
 */
#ifndef WRIT_HOST_LOG_H
#define WRIT_HOST_LOG_H

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN = 1, LOG_LVL_INFO = 2, LOG_LVL_DEBUG = 3 };

void log_init(const char *program, enum log_level max_level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
