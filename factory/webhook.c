/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The MES webhook (docs/factory-api.md): a thread of its own POSTs each queued record
 * as JSON to --webhook URL with libcurl, oldest first. A record leaves the queue (in
 * the store) only after a 2xx answer; a failure reschedules it 1 s, 2 s, 4 s … up to
 * 5 min later. The API only appends to the queue and wakes this thread, so a slow or
 * absent MES never holds up a station.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "factory/factory.h"
#include "host/log.h"

#define BACKOFF_MAX 300

void webhook_kick(struct factory *f)
{
	pthread_mutex_lock(&f->wake_lock);
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->wake_lock);
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	return size * n;
}

/* 0 if the MES took the record (2xx). */
static int post(CURL *curl, const char *url, const char *json, char *why, size_t cap)
{
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	long code = 0;
	CURLcode rc;

	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	rc = curl_easy_perform(curl);
	curl_slist_free_all(h);
	if (rc != CURLE_OK) {
		(void)!snprintf(why, cap, "%s", curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	if (code < 200 || code > 299) {
		(void)!snprintf(why, cap, "HTTP %ld", code);
		return -1;
	}
	return 0;
}

static void wait_s(struct factory *f, int seconds)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += seconds;
	pthread_mutex_lock(&f->wake_lock);
	if (!atomic_load(&f->stop))
		pthread_cond_timedwait(&f->wake, &f->wake_lock, &ts);
	pthread_mutex_unlock(&f->wake_lock);
}

void *webhook_main(void *arg)
{
	struct factory *f = arg;
	CURL *curl = curl_easy_init();
	int down = 0;

	if (!curl) {
		log_error("webhook: libcurl cannot start: records stay queued in the store");
		return NULL;
	}
	while (!atomic_load(&f->stop)) {
		uint64_t seq;
		unsigned attempts;
		char *json = NULL, why[256];
		int64_t now = (int64_t)time(NULL);
		int err = store_queue_next(f->store, now, &seq, &json, &attempts);

		if (err < 0) {
			wait_s(f, 1);
			continue;
		}
		if (post(curl, f->webhook, json, why, sizeof(why)) == 0) {
			if (store_queue_done(f->store, seq) < 0)
				log_warn("webhook: record %llu sent but still queued (store write failed): it will be sent again",
					 (unsigned long long)seq);
			if (down)
				log_info("webhook: %s answers again", f->webhook);
			down = 0;
		} else {
			unsigned delay = attempts >= 9 ? BACKOFF_MAX : 1u << attempts;
			if (delay > BACKOFF_MAX)
				delay = BACKOFF_MAX;
			if (!down)
				log_warn("webhook: %s refused record %llu (%s): retrying with backoff; records stay queued",
					 f->webhook, (unsigned long long)seq, why);
			down = 1;
			(void)!store_queue_retry(f->store, seq, attempts + 1, now + delay);
		}
		free(json);
	}
	curl_easy_cleanup(curl);
	return NULL;
}
