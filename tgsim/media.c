/* SPDX-License-Identifier: ISC */
/*
 * media.c: the files tgsim stores: sendVideo and sendVoice uploads under
 * the media dir with their file_ids, their duration and size read from
 * the MP4 or OGG headers, thumbnails, and downloads (GET /file/...).
 */
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/http.h>

#include "log.h"
#include "tgsim.h"
#include "xmalloc.h"

/* ---------------------------------------------------------------------- */
/* Stored media (sendVideo, sendVoice uploads) and their file_ids. */

/* Free a file record (the stored file stays on disk). */
void
file_free(void *arg)
{
	struct file *f = arg;

	free(f->file_id);
	free(f->unique_id);
	free(f->file_path);
	free(f->path);
	free(f->file_name);
	free(f);
}

/* 64 random bits for file_ids (uniqueness comes from the counter). */
static uint64_t
file_random(void)
{
	uint64_t r;

	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (uint64_t)time(NULL) * 2654435761u;
	return r;
}

/* Write data to a new file; -1 with errno on failure. */
static int
file_write(const char *path, const char *data, size_t len)
{
	ssize_t n;
	int fd, saved;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) == -1)
		return -1;
	while (len > 0) {
		if ((n = write(fd, data, len)) == -1) {
			if (errno == EINTR)
				continue;
			saved = errno;
			close(fd);
			unlink(path);
			errno = saved;
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return close(fd);
}

/*
 * Store an upload under the media dir as Telegram names files
 * (videos/file_N.mp4, voice/file_N.oga) and give it a new file_id.
 * NULL when it cannot be written.
 */
static struct file *
file_store(const char *kind, const struct param *up)
{
	int video = strcmp(kind, "video") == 0, thumb = strcmp(kind, "thumbnail") == 0;
	struct file *f = xcalloc(1, sizeof(*f));
	int64_t n;

	for (;;) {
		n = sim.next_file++;
		xasprintf(&f->file_path, video ? "videos/file_%" PRId64 ".mp4" : thumb ?
		    "thumbnails/file_%" PRId64 ".jpg" : "voice/file_%" PRId64 ".oga", n);
		xasprintf(&f->path, "%s/%s", sim.media_dir, f->file_path);
		if (file_write(f->path, up->value, up->len) == 0)
			break;
		if (errno != EEXIST) {
			log_warn("cannot store upload", "path=%s", f->path);
			file_free(f);
			return NULL;
		}
		free(f->file_path);
		free(f->path);
	}
	xasprintf(&f->file_id, "%s%08" PRIx64 "%016" PRIx64,
	    video ? "BAACAgIAAxkBAAI" : thumb ? "AAMCAgADGQEAAI" : "AwACAgIAAxkBAAI",
	    (uint64_t)n, file_random());
	xasprintf(&f->unique_id, "AgAD%08" PRIx64, (uint64_t)n);
	f->kind = video ? "video" : thumb ? "thumbnail" : "voice";
	f->size = up->len;
	f->file_name = xstrdup(up->filename[0] ? up->filename : f->file_path);
	table_put(&sim.files, f->file_id, f);
	table_put(&sim.file_paths, f->file_path, f);
	sim.stats.uploads++;
	log_info("upload stored", "kind=%s file_id=%s size=%zu path=%s",
	    f->kind, f->file_id, f->size, f->path);
	return f;
}

/* The Video or Voice object of a message. */
cJSON *
file_media_json(const struct file *f)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "file_id", f->file_id);
	cJSON_AddStringToObject(o, "file_unique_id", f->unique_id);
	if (strcmp(f->kind, "thumbnail") == 0) {
		/* A PhotoSize. */
		json_add_int(o, "width", f->width);
		json_add_int(o, "height", f->height);
	} else if (strcmp(f->kind, "video") == 0) {
		json_add_int(o, "width", f->width);
		json_add_int(o, "height", f->height);
		json_add_int(o, "duration", f->duration);
		if (f->thumb != NULL)
			cJSON_AddItemToObject(o, "thumbnail", file_media_json(f->thumb));
		cJSON_AddStringToObject(o, "file_name", f->file_name);
		cJSON_AddStringToObject(o, "mime_type", "video/mp4");
	} else {
		json_add_int(o, "duration", f->duration);
		cJSON_AddStringToObject(o, "mime_type", "audio/ogg");
	}
	json_add_int(o, "file_size", (int64_t)f->size);
	return o;
}

/* What a chat log entry says about a file: where it is on disk. */
cJSON *
file_log_json(const struct file *f)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "file_id", f->file_id);
	cJSON_AddStringToObject(o, "file_unique_id", f->unique_id);
	cJSON_AddStringToObject(o, "path", f->path);
	json_add_int(o, "file_size", (int64_t)f->size);
	if (f->thumb != NULL) {
		cJSON *t = file_log_json(f->thumb);

		json_add_int(t, "width", f->thumb->width);
		json_add_int(t, "height", f->thumb->height);
		cJSON_AddItemToObject(o, "thumbnail", t);
	}
	return o;
}

/* The File object (getFile). */
cJSON *
file_json(const struct file *f)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "file_id", f->file_id);
	cJSON_AddStringToObject(o, "file_unique_id", f->unique_id);
	json_add_int(o, "file_size", (int64_t)f->size);
	cJSON_AddStringToObject(o, "file_path", f->file_path);
	return o;
}

/* Big-endian and little-endian integers in media headers. */
static uint64_t
be_read(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* n bytes at p as a little-endian integer. */
static uint64_t
le_read(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* The payload of the first box of that type in [p, end), or NULL. Box
 * sizes are untrusted: every one is checked against end. */
static const unsigned char *
mp4_box(const unsigned char *p, const unsigned char *end, const char *type,
    size_t *len)
{
	uint64_t size, hdr;

	while (end - p >= 8) {
		size = be_read(p, 4);
		hdr = 8;
		if (size == 1) {
			if (end - p < 16)
				return NULL;
			size = be_read(p + 8, 8);
			hdr = 16;
		} else if (size == 0)
			size = (uint64_t)(end - p);
		if (size < hdr || size > (uint64_t)(end - p))
			return NULL;
		if (memcmp(p + 4, type, 4) == 0) {
			*len = (size_t)(size - hdr);
			return p + hdr;
		}
		p += size;
	}
	return NULL;
}

/* Duration (mvhd) and the first track with a size (tkhd) of an MP4. */
static void
mp4_probe(struct file *f, const unsigned char *data, size_t len)
{
	const unsigned char *moov, *mvhd, *trak, *tkhd, *p;
	size_t mlen, hlen, tlen, klen;
	uint64_t scale = 0, dur = 0;

	if ((moov = mp4_box(data, data + len, "moov", &mlen)) == NULL)
		return;
	if ((mvhd = mp4_box(moov, moov + mlen, "mvhd", &hlen)) != NULL) {
		if (mvhd[0] == 0 && hlen >= 20) {
			scale = be_read(mvhd + 12, 4);
			dur = be_read(mvhd + 16, 4);
		} else if (mvhd[0] == 1 && hlen >= 32) {
			scale = be_read(mvhd + 20, 4);
			dur = be_read(mvhd + 24, 8);
		}
		if (scale > 0)
			f->duration = (int64_t)((dur + scale / 2) / scale);
	}
	/* tkhd ends with width and height, 16.16 fixed point. */
	for (p = moov; (trak = mp4_box(p, moov + mlen, "trak", &tlen)) != NULL;
	    p = trak + tlen) {
		tkhd = mp4_box(trak, trak + tlen, "tkhd", &klen);
		if (tkhd == NULL || klen < 84 || be_read(tkhd + klen - 8, 4) == 0)
			continue;
		f->width = (int64_t)(be_read(tkhd + klen - 8, 4) >> 16);
		f->height = (int64_t)(be_read(tkhd + klen - 4, 4) >> 16);
		break;
	}
}

/* Duration of an Ogg Opus file: the last page's granule position less
 * the header's pre-skip, in 48 kHz samples, rounded to seconds. */
static void
ogg_probe(struct file *f, const unsigned char *data, size_t len)
{
	const unsigned char *head;
	uint64_t granule, preskip = 0;

	if (len < 27)
		return;
	head = memmem(data, len < 512 ? len : 512, "OpusHead", 8);
	if (head != NULL && (size_t)(head - data) + 12 <= len)
		preskip = le_read(head + 10, 2);
	for (size_t i = len - 14 + 1; i-- > 0;) {
		if (memcmp(data + i, "OggS", 4) != 0)
			continue;
		granule = le_read(data + i + 6, 8);
		if (granule != UINT64_MAX && granule > preskip)
			f->duration = (int64_t)((granule - preskip + 24000) / 48000);
		return;
	}
}

/* Fill in what the upload's own headers say. */
static void
media_probe(struct file *f, const unsigned char *data, size_t len)
{
	if (strcmp(f->kind, "video") == 0)
		mp4_probe(f, data, len);
	else
		ogg_probe(f, data, len);
}

/* ---------------------------------------------------------------------- */
/* The file a sendVideo or sendVoice sends, and a video's thumbnail. */

/* Telegram's name of a media kind in errors. */
static const char *
media_type_name(const char *kind)
{
	return strcmp(kind, "video") == 0 ? "Video" : "Voice";
}

/* Dimensions and duration as the bot declares them (Telegram shows
 * those rather than the file's). */
static void
media_declared(struct file *f, const struct params *p)
{
	int64_t v;

	if (params_int(p, "width", &v) == 1 && v > 0)
		f->width = v;
	if (params_int(p, "height", &v) == 1 && v > 0)
		f->height = v;
	if (params_int(p, "duration", &v) == 1 && v > 0)
		f->duration = v;
}

/* The file a sendVideo/sendVoice call sends: a new upload (stored now,
 * also through attach://name) or a file_id given out before. */
struct file *
call_media(struct call *c, const char *kind)
{
	const struct param *pa = params_get(&c->params, kind);
	struct file *f;

	if (pa != NULL && pa->filename == NULL &&
	    strncmp(pa->value, "attach://", 9) == 0)
		pa = params_get(&c->params, pa->value + 9);
	if (pa == NULL) {
		call_fail(c, 400, "Bad Request: there is no %s in the request", kind);
		return NULL;
	}
	if (pa->filename != NULL && pa->len == 0) {
		call_fail(c, 400, "Bad Request: file must be non-empty");
		return NULL;
	}
	if (pa->filename != NULL) {
		if ((f = file_store(kind, pa)) == NULL) {
			api_error(c->req, 500, 0, "Internal Server Error");
			return NULL;
		}
		media_probe(f, (const unsigned char *)pa->value, pa->len);
		media_declared(f, &c->params);
		return f;
	}
	if ((f = table_get(&sim.files, pa->value)) == NULL) {
		call_fail(c, 400, "Bad Request: wrong file identifier/HTTP URL "
		    "specified");
		return NULL;
	}
	if (strcmp(f->kind, kind) != 0) {
		call_fail(c, 400, "Bad Request: can't use file of type %s as %s",
		    media_type_name(f->kind), media_type_name(kind));
		return NULL;
	}
	return f;
}

/* A JPEG's size from its first frame header (SOFn); 0 when it is none. */
static int
jpeg_size(const unsigned char *p, size_t len, int64_t *w, int64_t *h)
{
	size_t i = 2;

	if (len < 4 || p[0] != 0xFF || p[1] != 0xD8)
		return 0;
	while (i + 9 <= len) {
		unsigned m;
		size_t seg;

		if (p[i] != 0xFF)
			return 0;
		m = p[i + 1];
		seg = (size_t)p[i + 2] << 8 | p[i + 3];
		if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
			*h = (int64_t)((unsigned)p[i + 5] << 8 | p[i + 6]);
			*w = (int64_t)((unsigned)p[i + 7] << 8 | p[i + 8]);
			return 1;
		}
		if (seg < 2)
			return 0;
		i += 2 + seg;
	}
	return 0;
}

/*
 * A sendVideo's thumbnail: "attach://NAME" naming an uploaded JPEG of at
 * most 200 kB and 320x320, as the Bot API asks. Telegram ignores one that
 * is not, and so do we (logged, counted); the video goes either way.
 */
void
call_thumbnail(struct call *c, struct file *video)
{
	const struct param *pa = params_get(&c->params, "thumbnail");
	const char *why = NULL;
	int64_t w = 0, h = 0;

	if (pa == NULL)
		return;
	if (pa->filename == NULL && strncmp(pa->value, "attach://", 9) == 0)
		pa = params_get(&c->params, pa->value + 9);
	if (pa == NULL || pa->filename == NULL)
		why = "not an upload (a thumbnail cannot be a file_id or URL)";
	else if (pa->len > 200 * 1024)
		why = "over 200 kB";
	else if (!jpeg_size((const unsigned char *)pa->value, pa->len, &w, &h))
		why = "not a JPEG";
	else if (w > 320 || h > 320)
		why = "larger than 320x320";
	if (why != NULL) {
		sim.stats.thumbnails_ignored++;
		log_warnx("thumbnail ignored", "reason=%s", why);
		return;
	}
	if ((video->thumb = file_store("thumbnail", pa)) == NULL)
		return;
	video->thumb->width = w;
	video->thumb->height = h;
	sim.stats.uploads--;	/* one upload: the video */
}

/* ---------------------------------------------------------------------- */
/* Downloads. */

/* GET /file/bot<token>/<file_path>: a stored file's bytes. */
void
file_request(struct evhttp_request *req)
{
	char *path = request_path(req), *token, *fpath;
	struct evbuffer *buf;
	struct file *f;
	struct stat st;
	int fd;

	token = path + strlen("/file/bot");
	if ((fpath = strchr(token, '/')) != NULL)
		*fpath++ = '\0';
	if (fpath == NULL || (sim.token != NULL && strcmp(token, sim.token) != 0)) {
		api_error(req, fpath == NULL ? 404 : 401, 0,
		    fpath == NULL ? "Not Found" : "Unauthorized");
		free(path);
		return;
	}
	f = table_get(&sim.file_paths, fpath);
	free(path);
	if (f == NULL || (fd = open(f->path, O_RDONLY | O_CLOEXEC)) == -1) {
		api_error(req, 404, 0, "Not Found");
		return;
	}
	if (fstat(fd, &st) == -1 || (buf = evbuffer_new()) == NULL)
		fatal("file_request");
	/* The buffer owns fd from here and closes it when sent. */
	if (evbuffer_add_file(buf, fd, 0, st.st_size) == -1)
		log_warnx("evbuffer_add_file failed", "path=%s", f->path);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    strcmp(f->kind, "video") == 0 ? "video/mp4" : "audio/ogg");
	evhttp_send_reply(req, 200, "OK", buf);
	evbuffer_free(buf);
}
