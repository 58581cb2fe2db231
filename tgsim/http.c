/* SPDX-License-Identifier: ISC */
/*
 * http.c: a request to tgsim in and its answer out: the call's parameters
 * from the query string and any of the body encodings Telegram accepts
 * (urlencoded, JSON, multipart/form-data), and the JSON replies in the
 * Bot API's shapes.
 */
#include <sys/queue.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "log.h"
#include "multipart.h"
#include "tgsim.h"
#include "xmalloc.h"

/* ---------------------------------------------------------------------- */
/* Call parameters, from the query string and any of the body encodings
 * Telegram accepts. */

/* Append a parameter (copies everything; value may hold any byte). */
static void
params_add(struct params *p, const char *name, const char *value, size_t len,
    const char *filename, const char *content_type)
{
	struct param *pa;

	p->v = xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
	pa = &p->v[p->n++];
	pa->name = xstrdup(name);
	pa->value = xmalloc(len + 1);
	memcpy(pa->value, value, len);
	pa->value[len] = '\0';
	pa->len = len;
	pa->filename = filename != NULL ? xstrdup(filename) : NULL;
	pa->content_type = content_type != NULL ? xstrdup(content_type) : NULL;
}

/* Free every parameter. */
void
params_free(struct params *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].name);
		free(p->v[i].value);
		free(p->v[i].filename);
		free(p->v[i].content_type);
	}
	free(p->v);
	memset(p, 0, sizeof(*p));
}

/* The last parameter of that name: a body value overrides the query. */
const struct param *
params_get(const struct params *p, const char *name)
{
	for (size_t i = p->n; i > 0; i--)
		if (strcmp(p->v[i - 1].name, name) == 0)
			return &p->v[i - 1];
	return NULL;
}

/* A text (not file) parameter's value, or NULL. */
const char *
params_str(const struct params *p, const char *name)
{
	const struct param *pa = params_get(p, name);

	return pa != NULL && pa->filename == NULL ? pa->value : NULL;
}

/* An integer parameter: 1 when present and valid, 0 absent, -1 invalid. */
int
params_int(const struct params *p, const char *name, int64_t *out)
{
	const char *s = params_str(p, name);

	if (s == NULL)
		return 0;
	return parse_int64(s, out) == 0 ? 1 : -1;
}

/* Add the pairs of a urlencoded string; -1 when malformed. */
static int
params_from_urlencoded(struct params *p, const char *s)
{
	struct evkeyvalq q;
	struct evkeyval *kv;
	char *key;
	int r;

	TAILQ_INIT(&q);
	if ((r = evhttp_parse_query_str(s, &q)) == 0) {
		TAILQ_FOREACH(kv, &q, next) {
			/* libevent decodes values but not keys. */
			if ((key = evhttp_uridecode(kv->key, 1, NULL)) == NULL)
				fatalx("evhttp_uridecode");
			params_add(p, key, kv->value, strlen(kv->value), NULL, NULL);
			free(key);
		}
	}
	evhttp_clear_headers(&q);
	return r;
}

/* Add the members of a JSON object body; -1 when it is not one. */
static int
params_from_json(struct params *p, const char *body, size_t len)
{
	cJSON *root, *item;
	char *s;

	root = cJSON_ParseWithLength(body, len);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return -1;
	}
	cJSON_ArrayForEach(item, root) {
		if (item->string == NULL || cJSON_IsNull(item))
			continue;
		s = json_param(item);
		params_add(p, item->string, s, strlen(s), NULL, NULL);
		free(s);
	}
	cJSON_Delete(root);
	return 0;
}

/* Add the parts of a multipart/form-data body; -1 when malformed. */
static int
params_from_multipart(struct params *p, const char *ctype, const char *body,
    size_t len, const char **err)
{
	struct multipart mp;
	const struct multipart_part *part;
	char *boundary;

	if ((boundary = multipart_boundary(ctype)) == NULL) {
		*err = "bad multipart boundary";
		return -1;
	}
	if (multipart_parse(&mp, boundary, body, len, err) == -1) {
		free(boundary);
		return -1;
	}
	for (size_t i = 0; i < mp.nparts; i++) {
		part = &mp.parts[i];
		params_add(p, part->name, part->data, part->len, part->filename,
		    part->content_type);
	}
	multipart_free(&mp);
	free(boundary);
	return 0;
}

/* Collect a request's parameters; -1 with *err when they cannot be read. */
int
params_from_request(struct params *p, struct evhttp_request *req,
    const char **err)
{
	const char *query, *ctype, *body;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	char *copy;
	int r;

	query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	if (query != NULL && params_from_urlencoded(p, query) == -1) {
		*err = "can't parse query string";
		return -1;
	}
	if (len == 0)
		return 0;
	body = (const char *)evbuffer_pullup(in, -1);
	ctype = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Content-Type");
	if (ctype_is(ctype, "multipart/form-data"))
		return params_from_multipart(p, ctype, body, len, err);
	if (ctype_is(ctype, "application/json")) {
		*err = "can't parse JSON object";
		return params_from_json(p, body, len);
	}
	copy = xstrndup(body, len);
	*err = "can't parse request body";
	r = params_from_urlencoded(p, copy);
	free(copy);
	return r;
}

/* ---------------------------------------------------------------------- */
/* Replies. */

/* The reason phrase for the status codes tgsim answers with. */
static const char *
http_reason(int code)
{
	switch (code) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 409: return "Conflict";
	case 429: return "Too Many Requests";
	default: return "Internal Server Error";
	}
}

/* Send a JSON body and free it. */
void
http_reply_json(struct evhttp_request *req, int code, cJSON *body)
{
	struct evbuffer *buf;
	char *s;

	if ((s = cJSON_PrintUnformatted(body)) == NULL)
		fatalx("cJSON_PrintUnformatted");
	if ((buf = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	evbuffer_add(buf, s, strlen(s));
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evhttp_send_reply(req, code, http_reason(code), buf);
	evbuffer_free(buf);
	cJSON_free(s);
	cJSON_Delete(body);
}

/* {"ok":true,"result":...}; takes result. */
void
api_ok(struct evhttp_request *req, cJSON *result)
{
	cJSON *body = cJSON_CreateObject();

	cJSON_AddTrueToObject(body, "ok");
	cJSON_AddItemToObject(body, "result", result);
	http_reply_json(req, 200, body);
}

/* A Bot API error body, with parameters.retry_after when it is > 0. */
void
api_error(struct evhttp_request *req, int code, int retry_after,
    const char *description)
{
	cJSON *body = cJSON_CreateObject(), *params;

	cJSON_AddFalseToObject(body, "ok");
	json_add_int(body, "error_code", code);
	cJSON_AddStringToObject(body, "description", description);
	if (retry_after > 0) {
		params = cJSON_AddObjectToObject(body, "parameters");
		json_add_int(params, "retry_after", retry_after);
	}
	http_reply_json(req, code, body);
}

/* Refuse a call the bot got wrong: count it, log it, answer code. */
void __attribute__((format(printf, 3, 4)))
call_fail(struct call *c, int code, const char *fmt, ...)
{
	char desc[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	sim.stats.rejected++;
	log_info("call rejected", "method=%s code=%d description=%s",
	    c->method ? c->method : "-", code, desc);
	api_error(c->req, code, 0, desc);
}

/* A control reply to extend: {"ok":true}. */
cJSON *
control_body(void)
{
	cJSON *body = cJSON_CreateObject();

	cJSON_AddTrueToObject(body, "ok");
	return body;
}

/* A control error in the Bot API's error shape. */
void __attribute__((format(printf, 3, 4)))
control_fail(struct evhttp_request *req, int code, const char *fmt, ...)
{
	char desc[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	api_error(req, code, 0, desc);
}
