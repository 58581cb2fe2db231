/* SPDX-License-Identifier: ISC */
/*
 * http.c: greetctl's HTTP client (libcurl easy), for greetbotd's endpoints
 * (status) and tgsim's control interface (chat).
 */
#include <stdlib.h>

#include <curl/curl.h>

#include "greetctl.h"
#include "log.h"
#include "xmalloc.h"

size_t
http_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;

	if (b->n + size * nmemb > MAX_CAPTURE)
		return 0;
	buf_add(b, ptr, size * nmemb);
	return size * nmemb;
}

/*
 * One HTTP request, a POST of form when it is not NULL, within timeout_ms.
 * Returns the status (0 when nothing answered); *body is always a string.
 * Never through a proxy: every address we talk to is our own.
 */
long
http_call(const char *url, const char *form, long timeout_ms, char **body)
{
	struct buf b = { xstrdup(""), 0 };
	CURL *c;
	long code = 0;

	if ((c = curl_easy_init()) == NULL)
		fatalx("curl_easy_init");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 2000 ? timeout_ms : 2000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (form != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	*body = b.p;
	return code;
}
