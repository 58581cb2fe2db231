/* SPDX-License-Identifier: ISC */
/* test_tg.c: the Bot API client against an in-process evhttp server. */
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "log.h"
#include "tg.h"
#include "unit.h"
#include "xmalloc.h"

#define TOKEN		"123456789:AAE-test_SECRET_token-xyz"
#define HOLD_N		10
#define BIG_ID		-1001234567890123LL	/* 16 digits, beyond %.15g */
#define MSG_ID		4398046511104LL		/* 2^42 */

static struct event_base	*base;

/* What the server saw last. */
static struct {
	char		 path[256];
	char		 ctype[256];
	char		*body;
	size_t		 len;
	unsigned	 peer_port;
	int		 requests;
	struct evhttp_request *held[HOLD_N];
	int		 nheld;
} srv;

/* What one callback saw. */
struct got {
	int		 called;
	long		 status;
	int		 ok;
	int		 transport;
	int		 code;
	int		 retry;
	char		 desc[512];
	int64_t		 msg_id;
	int64_t		 chat_id;
};

/* Send an answer with the given status, content type and body. */
static void
srv_reply(struct evhttp_request *req, int code, const char *ctype,
    const char *body)
{
	struct evbuffer *out = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", ctype);
	evbuffer_add(out, body, strlen(body));
	evhttp_send_reply(req, code, code == 200 ? "OK" : "Error", out);
	evbuffer_free(out);
}

/* Remember path, content type, body and peer of a request. */
static void
srv_record(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *ct;
	char *addr;
	ev_uint16_t port = 0;

	snprintf(srv.path, sizeof(srv.path), "%s", evhttp_request_get_uri(req));
	ct = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Content-Type");
	snprintf(srv.ctype, sizeof(srv.ctype), "%s", ct ? ct : "");
	free(srv.body);
	srv.len = evbuffer_get_length(in);
	srv.body = xmalloc(srv.len + 1);
	evbuffer_copyout(in, srv.body, srv.len);
	srv.body[srv.len] = '\0';
	evhttp_connection_get_peer(evhttp_request_get_connection(req),
	    &addr, &port);
	srv.peer_port = port;
	srv.requests++;
}

/* Echo the params back as the result, with two large ids. */
static void
srv_echo(struct evhttp_request *req)
{
	cJSON *root = cJSON_CreateObject(), *res, *params;
	char *text;

	params = cJSON_Parse(srv.body);
	res = cJSON_AddObjectToObject(root, "result");
	cJSON_AddBoolToObject(root, "ok", 1);
	cJSON_AddNumberToObject(res, "message_id", (double)MSG_ID);
	cJSON_AddItemToObject(res, "params", params ? params : cJSON_CreateNull());
	text = cJSON_PrintUnformatted(root);
	srv_reply(req, 200, "application/json", text);
	cJSON_free(text);
	cJSON_Delete(root);
}

/* Hold requests until HOLD_N have arrived, then answer them all. */
static void
srv_hold(struct evhttp_request *req)
{
	char body[64];

	srv.held[srv.nheld++] = req;
	if (srv.nheld < HOLD_N)
		return;
	for (int i = 0; i < HOLD_N; i++) {
		snprintf(body, sizeof(body), "{\"ok\":true,\"result\":{\"n\":%d}}", i);
		srv_reply(srv.held[i], 200, "application/json", body);
	}
	srv.nheld = 0;
}

/* Answer 200 with a body over the client's 8 MB cap. */
static void
srv_huge(struct evhttp_request *req)
{
	struct evbuffer *out = evbuffer_new();
	size_t n = 9 * 1024 * 1024;
	char *big = xmalloc(n);

	memset(big, 'x', n);
	evbuffer_add(out, big, n);
	free(big);
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

/* The test double: the method (last path element) chooses the answer. */
static void
srv_handle(struct evhttp_request *req, void *arg)
{
	const char *m;

	(void)arg;
	srv_record(req);
	m = strrchr(srv.path, '/') ? strrchr(srv.path, '/') + 1 : srv.path;
	if (strcmp(m, "echo") == 0 || strcmp(m, "upload") == 0)
		srv_echo(req);
	else if (strcmp(m, "hold") == 0)
		srv_hold(req);
	else if (strcmp(m, "flood") == 0)
		srv_reply(req, 429, "application/json", "{\"ok\":false,"
		    "\"error_code\":429,\"description\":\"Too Many Requests: "
		    "retry after 7\",\"parameters\":{\"retry_after\":7}}");
	else if (strcmp(m, "bad") == 0)
		srv_reply(req, 400, "application/json", "{\"ok\":false,"
		    "\"error_code\":400,\"description\":\"Bad Request: chat "
		    "not found for " TOKEN "\"}");
	else if (strcmp(m, "blocked") == 0)
		srv_reply(req, 403, "application/json", "{\"ok\":false,"
		    "\"error_code\":403,\"description\":\"Forbidden: bot was "
		    "blocked by the user\"}");
	else if (strcmp(m, "gateway") == 0)
		srv_reply(req, 502, "text/html",
		    "<html><body><h1>502 Bad Gateway</h1></body></html>");
	else if (strcmp(m, "garbage") == 0)
		srv_reply(req, 200, "text/plain", "not json");
	else if (strcmp(m, "huge") == 0)
		srv_huge(req);
	else if (strcmp(m, "hang") == 0)
		return;		/* never answered; evhttp frees it on close */
	else
		srv_reply(req, 404, "application/json",
		    "{\"ok\":false,\"error_code\":404,\"description\":\"Not Found\"}");
}

/* Run the loop until *n reaches want or ms pass; 1 if it reached want. */
static int
run_until(const int *n, int want, long ms)
{
	struct timespec t0, now;
	struct timeval tick = { 0, 5000 };

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (n != NULL && *n >= want)
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - t0.tv_sec) * 1000 +
		    (now.tv_nsec - t0.tv_nsec) / 1000000 >= ms)
			return n == NULL;
		event_base_loopexit(base, &tick);
		event_base_loop(base, 0);
	}
}

/* Copy a result into the struct got at arg. */
static void
cb_record(const struct tg_result *r, void *arg)
{
	struct got *g = arg;

	g->called++;
	g->status = r->http_status;
	g->ok = r->ok;
	g->transport = r->transport_error;
	g->code = r->error_code;
	g->retry = r->retry_after;
	snprintf(g->desc, sizeof(g->desc), "%s", r->description);
	g->msg_id = tg_json_int64(r->result, "message_id");
	g->chat_id = tg_json_int64(cJSON_GetObjectItemCaseSensitive(r->result,
	    "params"), "chat_id");
}

/* Count ok callbacks in the int at arg. */
static void
cb_count_ok(const struct tg_result *r, void *arg)
{
	int *n = arg;

	if (r->ok && tg_json_int64(r->result, "n") >= 0)
		(*n)++;
}

/* A call round-trips: path, Content-Type, params, 64-bit ids. */
static void
test_roundtrip(struct tg *tg)
{
	struct got g = { 0 };
	cJSON *p = cJSON_CreateObject(), *sent;

	cJSON_AddNumberToObject(p, "chat_id", (double)BIG_ID);
	cJSON_AddStringToObject(p, "text", "Привет, \"мир\"");
	tg_call(tg, "echo", p, 0, cb_record, &g);
	UNIT_CHECK(g.called == 0, "no callback from inside tg_call");
	UNIT_CHECK(tg_inflight(tg) == 1, "one call in flight");
	UNIT_CHECK(run_until(&g.called, 1, 3000), "echo answered");
	UNIT_CHECK(g.ok && g.status == 200, "echo ok, HTTP 200");
	UNIT_STREQ(srv.path, "/bot" TOKEN "/echo", "path is /bot{token}/{method}");
	UNIT_STREQ(srv.ctype, "application/json", "Content-Type is JSON");
	sent = cJSON_Parse(srv.body);
	UNIT_CHECK(sent != NULL && tg_json_int64(sent, "chat_id") == BIG_ID,
	    "chat_id arrives exact");
	UNIT_CHECK(strstr(srv.body, "-1001234567890123") != NULL,
	    "chat_id serialised as plain digits");
	UNIT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(sent, "text")),
	    "Привет, \"мир\"", "text arrives intact");
	cJSON_Delete(sent);
	UNIT_CHECK(g.msg_id == MSG_ID, "tg_json_int64 reads 2^42");
	UNIT_CHECK(g.chat_id == BIG_ID, "tg_json_int64 reads a 16-digit id");
	UNIT_CHECK(tg_inflight(tg) == 0, "nothing in flight after");
	UNIT_STREQ(g.desc, "", "description empty but not NULL on success");
}

/* Sequential calls reuse one kept-alive connection; NULL params work. */
static void
test_keepalive(struct tg *tg)
{
	struct got a = { 0 }, b = { 0 };
	unsigned port;

	tg_call(tg, "echo", NULL, 0, cb_record, &a);
	run_until(&a.called, 1, 3000);
	port = srv.peer_port;
	UNIT_STREQ(srv.body, "{}", "NULL params send {}");
	tg_call(tg, "echo", NULL, 0, cb_record, &b);
	run_until(&b.called, 1, 3000);
	UNIT_CHECK(a.ok && b.ok && port == srv.peer_port,
	    "second call reuses the connection (port %u)", port);
}

/* HOLD_N calls are all in the server at once before any answer. */
static void
test_concurrent(struct tg *tg)
{
	struct timespec t0, t1;
	int n = 0;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < HOLD_N; i++)
		tg_call(tg, "hold", NULL, 5000, cb_count_ok, &n);
	UNIT_CHECK(tg_inflight(tg) == HOLD_N, "%d calls in flight", HOLD_N);
	UNIT_CHECK(run_until(&n, HOLD_N, 6000), "all %d answered ok", HOLD_N);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	UNIT_CHECK(ms < 3000, "concurrently, well before the timeout (%ld ms)", ms);
}

/* Telegram's error answers: 429, 400, 403, and a proxy's 502 page. */
static void
test_errors(struct tg *tg)
{
	struct got f = { 0 }, b = { 0 }, k = { 0 }, g = { 0 };

	tg_call(tg, "flood", NULL, 0, cb_record, &f);
	tg_call(tg, "bad", NULL, 0, cb_record, &b);
	tg_call(tg, "blocked", NULL, 0, cb_record, &k);
	tg_call(tg, "gateway", NULL, 0, cb_record, &g);
	run_until(&g.called, 1, 3000);
	run_until(&f.called, 1, 1000);
	run_until(&b.called, 1, 1000);
	run_until(&k.called, 1, 1000);
	UNIT_CHECK(f.called == 1 && !f.ok && f.status == 429 && f.code == 429 &&
	    f.retry == 7 && !f.transport, "429: retry_after 7");
	UNIT_STREQ(f.desc, "Too Many Requests: retry after 7", "429 description");
	UNIT_CHECK(b.called == 1 && !b.ok && b.status == 400 && b.code == 400 &&
	    b.retry == 0 && !b.transport, "400: error_code");
	UNIT_CHECK(strncmp(b.desc, "Bad Request: chat not found", 27) == 0,
	    "400 description: %s", b.desc);
	UNIT_CHECK(strstr(b.desc, TOKEN) == NULL && strstr(b.desc, "<redacted>"),
	    "token redacted from a description");
	UNIT_CHECK(k.called == 1 && !k.ok && k.status == 403 && k.code == 403,
	    "403: error_code");
	UNIT_STREQ(k.desc, "Forbidden: bot was blocked by the user",
	    "403 description");
	UNIT_CHECK(g.called == 1 && !g.ok && g.status == 502 && g.code == 0 &&
	    !g.transport, "502 HTML: ok=0, no error_code, not transport");
	UNIT_STREQ(g.desc, "HTTP 502", "502 description");
	memset(&g, 0, sizeof(g));
	memset(&b, 0, sizeof(b));
	tg_call(tg, "garbage", NULL, 0, cb_record, &g);
	tg_call(tg, "huge", NULL, 0, cb_record, &b);
	run_until(&g.called, 1, 3000);
	run_until(&b.called, 1, 5000);
	UNIT_CHECK(g.called && !g.ok && g.status == 200 && !g.transport,
	    "200 with a non-JSON body: ok=0 (%s)", g.desc);
	UNIT_CHECK(b.called && !b.ok && !b.transport,
	    "a body over 8 MB is refused (%s)", b.desc);
}

/* A port with nothing listening: refused, transport error. */
static void
test_refused(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct got g = { 0 };
	struct tg *tg;
	char url[64];
	int fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	getsockname(fd, (struct sockaddr *)&sin, &len);
	close(fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", ntohs(sin.sin_port));
	tg = tg_new(base, url, TOKEN);
	tg_call(tg, "getMe", NULL, 0, cb_record, &g);
	UNIT_CHECK(run_until(&g.called, 1, 3000), "refused call called back");
	UNIT_CHECK(!g.ok && g.transport && g.status == 0,
	    "refused: transport_error, no HTTP status");
	UNIT_CHECK(g.desc[0] != '\0' && strstr(g.desc, TOKEN) == NULL,
	    "refused description: %s", g.desc);
	tg_free(tg);
}

/* A server that never answers: the call's total timeout fires. */
static void
test_timeout(struct tg *tg)
{
	struct got g = { 0 };
	struct timespec t0, t1;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	tg_call(tg, "hang", NULL, 300, cb_record, &g);
	UNIT_CHECK(run_until(&g.called, 1, 3000), "hung call called back");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	UNIT_CHECK(!g.ok && g.transport && g.status == 0, "timeout: transport_error");
	UNIT_CHECK(ms >= 250 && ms < 1500, "after about 300 ms (%ld ms)", ms);
	UNIT_CHECK(strstr(g.desc, "imed out") != NULL, "timeout description: %s",
	    g.desc);
}

/* Write n test bytes (NULs, CRLFs, boundary-like dashes) to path. */
static unsigned char *
make_file(const char *path, size_t n)
{
	unsigned char *b = xmalloc(n);
	FILE *f;

	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)((i * 131 + i / 7) & 0xff);
	memcpy(b + 100, "\r\n--boundary\r\n", 14);
	b[0] = 0;
	if ((f = fopen(path, "wb")) == NULL || fwrite(b, 1, n, f) != n)
		fatal("write", "path=%s", path);
	fclose(f);
	return b;
}

/* The body of the part whose headers contain needle, or NULL. */
static const char *
part_body(const char *needle, size_t *len)
{
	const char *b, *h, *end, *data;
	char delim[128];

	if ((b = strstr(srv.ctype, "boundary=")) == NULL)
		return NULL;
	snprintf(delim, sizeof(delim), "\r\n--%s", b + 9);
	h = memmem(srv.body, srv.len, needle, strlen(needle));
	if (h == NULL)
		return NULL;
	data = memmem(h, srv.len - (size_t)(h - srv.body), "\r\n\r\n", 4);
	if (data == NULL)
		return NULL;
	data += 4;
	end = memmem(data, srv.len - (size_t)(data - srv.body), delim, strlen(delim));
	if (end == NULL)
		return NULL;
	*len = (size_t)(end - data);
	return data;
}

/* A multipart upload: fields and the file's exact bytes arrive. */
static void
test_upload(struct tg *tg)
{
	char path[] = "/tmp/test_tg_upload.XXXXXX", other[64];
	struct got g = { 0 };
	unsigned char *bytes;
	const char *part;
	size_t len = 0, n = 200000;
	cJSON *p = cJSON_CreateObject(), *kb;
	int fd;

	if ((fd = mkstemp(path)) == -1)
		fatal("mkstemp");
	close(fd);
	bytes = make_file(path, n);
	cJSON_AddNumberToObject(p, "chat_id", (double)BIG_ID);
	cJSON_AddStringToObject(p, "caption", "Маша");
	kb = cJSON_AddObjectToObject(p, "reply_markup");
	cJSON_AddArrayToObject(kb, "inline_keyboard");
	tg_upload(tg, "upload", p, "video", path, "Маша.mp4", cb_record, &g);
	UNIT_CHECK(run_until(&g.called, 1, 5000) && g.ok, "upload answered ok");
	UNIT_CHECK(strncmp(srv.ctype, "multipart/form-data; boundary=", 30) == 0,
	    "Content-Type multipart: %s", srv.ctype);
	part = part_body("name=\"video\"; filename=\"Маша.mp4\"", &len);
	UNIT_CHECK(part != NULL && len == n && memcmp(part, bytes, n) == 0,
	    "file part has the filename and the exact %zu bytes (got %zu)", n, len);
	part = part_body("name=\"chat_id\"", &len);
	UNIT_CHECK(part && len == 17 && memcmp(part, "-1001234567890123", 17) == 0,
	    "number field as decimal");
	part = part_body("name=\"caption\"", &len);
	UNIT_CHECK(part && len == strlen("Маша") && memcmp(part, "Маша", len) == 0,
	    "string field as-is");
	part = part_body("name=\"reply_markup\"", &len);
	UNIT_CHECK(part && len == 22 && memcmp(part, "{\"inline_keyboard\":[]}", 22) == 0,
	    "object field as JSON text");
	/* A bigger file renamed over the path before the body goes out (two
	 * renders of one preview): the upload is the file as tg_upload found
	 * it, whole, not its old size of the new file's bytes. */
	memset(&g, 0, sizeof(g));
	tg_upload(tg, "upload", NULL, "video", path, "y.mp4", cb_record, &g);
	snprintf(other, sizeof(other), "%s.new", path);
	free(make_file(other, n + 5000));
	if (rename(other, path) == -1)
		fatal("rename", "path=%s", other);
	UNIT_CHECK(run_until(&g.called, 1, 5000) && g.ok, "upload of a replaced file answered ok");
	len = 0;
	part = part_body("filename=\"y.mp4\"", &len);
	UNIT_CHECK(part != NULL && len == n && memcmp(part, bytes, n) == 0,
	    "the file as it was when the call was made (%zu bytes, got %zu)", n, len);
	unlink(path);
	free(bytes);
	memset(&g, 0, sizeof(g));
	tg_upload(tg, "upload", NULL, "video", path, "x.mp4", cb_record, &g);
	UNIT_CHECK(g.called == 0, "missing file: no callback from inside tg_upload");
	UNIT_CHECK(run_until(&g.called, 1, 1000) && !g.ok && !g.transport &&
	    g.status == 0, "missing file fails the call: %s", g.desc);
}

/* Cancelled calls never call back, queued or already sent. */
static void
test_cancel(struct tg *tg)
{
	struct got a = { 0 }, b = { 0 };
	struct tg_call *ca, *cb;
	int before = srv.requests;

	ca = tg_call(tg, "echo", NULL, 0, cb_record, &a);
	tg_cancel(ca);
	cb = tg_call(tg, "hang", NULL, 0, cb_record, &b);
	run_until(&srv.requests, before + 1, 2000);
	UNIT_CHECK(srv.requests == before + 1, "the hang call reached the server");
	tg_cancel(cb);
	UNIT_CHECK(tg_inflight(tg) == 0, "nothing in flight after cancels");
	run_until(NULL, 0, 300);
	UNIT_CHECK(a.called == 0 && b.called == 0, "no callback after tg_cancel");
}

struct chain {
	struct tg	*tg;
	struct got	 second;
	int		 done;
};

/* A callback that starts another call. */
static void
cb_chain(const struct tg_result *r, void *arg)
{
	struct chain *ch = arg;

	(void)r;
	tg_call(ch->tg, "echo", NULL, 0, cb_record, &ch->second);
	ch->done = 1;
}

/* A callback that frees its own client. */
static void
cb_free(const struct tg_result *r, void *arg)
{
	struct chain *ch = arg;

	(void)r;
	tg_free(ch->tg);
	ch->done++;
}

/* Callbacks may call tg_call and tg_free; tg_free drops the rest silently. */
static void
test_reentry(struct tg *tg)
{
	struct chain ch = { .tg = tg };
	struct got hung = { 0 };
	struct tg *tg2;

	tg_call(tg, "echo", NULL, 0, cb_chain, &ch);
	UNIT_CHECK(run_until(&ch.second.called, 1, 3000) && ch.second.ok,
	    "a call started from a callback completes");
	tg2 = tg_new(base, NULL, TOKEN);	/* the default URL; never used */
	tg_free(tg2);
	memset(&ch, 0, sizeof(ch));
	ch.tg = tg_new(base, getenv("TEST_TG_URL"), TOKEN);
	tg_call(ch.tg, "hang", NULL, 0, cb_record, &hung);
	tg_call(ch.tg, "echo", NULL, 0, cb_free, &ch);
	tg_call(ch.tg, "echo", NULL, 0, cb_free, &ch);
	run_until(&ch.done, 1, 3000);
	run_until(NULL, 0, 200);
	UNIT_CHECK(ch.done == 1 && hung.called == 0,
	    "tg_free from a callback: no further callbacks");
}

/* Redirect stderr to a temp file; returns the saved stderr. */
static int
capture_stderr(char *path)
{
	int fd, saved;

	if ((fd = mkstemp(path)) == -1)
		fatal("mkstemp");
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
	return saved;
}

/* Restore stderr and check the captured log for the token. */
static void
check_stderr(int saved, const char *path)
{
	char *log;
	FILE *f;
	long n;

	dup2(saved, STDERR_FILENO);
	close(saved);
	if ((f = fopen(path, "rb")) == NULL)
		fatal("fopen", "path=%s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	log = xcalloc(1, (size_t)n + 1);
	if (fread(log, 1, (size_t)n, f) != (size_t)n)
		fatal("fread");
	fclose(f);
	unlink(path);
	UNIT_CHECK(strstr(log, "method=echo status=200") != NULL,
	    "calls were logged at debug (%ld bytes of log)", n);
	UNIT_CHECK(strstr(log, "level=warn") != NULL &&
	    strstr(log, "method=flood status=429") != NULL, "failures logged at warn");
	UNIT_CHECK(strstr(log, TOKEN) == NULL && strstr(log, "AAE-test_SECRET") == NULL,
	    "the token never appears on stderr");
	free(log);
}

int
main(void)
{
	char logpath[] = "/tmp/test_tg_stderr.XXXXXX", url[64], want[160], *furl;
	struct evhttp_bound_socket *bound;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct evhttp *http;
	struct tg *tg;
	int saved;

	/* The server half writes to sockets the client half has dropped. */
	signal(SIGPIPE, SIG_IGN);
	log_init("test_tg", LOG_LEVEL_DEBUG);
	saved = capture_stderr(logpath);
	base = event_base_new();
	http = evhttp_new(base);
	evhttp_set_gencb(http, srv_handle, NULL);
	if ((bound = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0)) == NULL)
		fatalx("evhttp bind");
	getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sin, &len);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", ntohs(sin.sin_port));
	setenv("TEST_TG_URL", url, 1);

	tg = tg_new(base, url, TOKEN);
	test_roundtrip(tg);
	test_keepalive(tg);
	test_concurrent(tg);
	test_errors(tg);
	test_refused();
	test_timeout(tg);
	test_upload(tg);
	test_cancel(tg);
	test_reentry(tg);
	furl = tg_file_url(tg, "videos/file_1.mp4");
	snprintf(want, sizeof(want), "%s/file/bot%s/videos/file_1.mp4", url, TOKEN);
	UNIT_STREQ(furl, want, "tg_file_url");
	free(furl);
	tg_call(tg, "hang", NULL, 0, cb_record, NULL);
	tg_free(tg);	/* with a call in flight: no callback, no leak */

	evhttp_free(http);
	event_base_free(base);
	free(srv.body);
	check_stderr(saved, logpath);
	return unit_done();
}
