/* SPDX-License-Identifier: ISC */
/* apispec.c: loads the Bot API method and type list (cJSON) and answers
 * which methods and parameters exist. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "apispec.h"
#include "xmalloc.h"

#define APISPEC_MAX_BYTES	(64 * 1024 * 1024)

struct apimethod {
	const char	*name;		/* the key in "methods", owned by root */
	const cJSON	*fields;	/* array of {name,types,required} or NULL */
};

struct apispec {
	cJSON			*root;
	const char		*version;
	const cJSON		*types;
	struct apimethod	*methods;	/* sorted case-insensitively */
	size_t			 nmethods;
};

/* Read a whole file into a NUL-terminated buffer. */
static char *
apispec_slurp(const char *path, size_t *lenp)
{
	FILE *f;
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	for (;;) {
		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 262144;
			buf = xrealloc(buf, cap + 1);
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0 || len > APISPEC_MAX_BYTES)
			break;
	}
	if (ferror(f) || len > APISPEC_MAX_BYTES) {
		fclose(f);
		free(buf);
		errno = EFBIG;
		return NULL;
	}
	fclose(f);
	buf[len] = '\0';
	*lenp = len;
	return buf;
}

/* qsort/bsearch order of methods: by name, ignoring case. */
static int
apimethod_cmp(const void *a, const void *b)
{
	const struct apimethod *ma = a, *mb = b;

	return strcasecmp(ma->name, mb->name);
}

/* Check one method's "fields": an array of objects with a string name. */
static int
apispec_fields_valid(const cJSON *fields)
{
	const cJSON *f, *name;

	if (!cJSON_IsArray(fields))
		return 0;
	cJSON_ArrayForEach(f, fields) {
		name = cJSON_GetObjectItemCaseSensitive(f, "name");
		if (!cJSON_IsObject(f) || !cJSON_IsString(name))
			return 0;
	}
	return 1;
}

/* Build the sorted method table from the "methods" object. */
static const char *
apispec_index(struct apispec *spec, const cJSON *methods)
{
	const cJSON *m, *fields;
	size_t n = 0;

	spec->methods = xcalloc((size_t)cJSON_GetArraySize(methods) + 1,
	    sizeof(*spec->methods));
	cJSON_ArrayForEach(m, methods) {
		if (!cJSON_IsObject(m) || m->string == NULL || *m->string == '\0')
			return "malformed method entry";
		fields = cJSON_GetObjectItemCaseSensitive(m, "fields");
		if (fields != NULL && !apispec_fields_valid(fields))
			return "malformed method fields";
		spec->methods[n].name = m->string;
		spec->methods[n].fields = fields;
		n++;
	}
	spec->nmethods = n;
	qsort(spec->methods, n, sizeof(*spec->methods), apimethod_cmp);
	return NULL;
}

/* Read and index the Bot API description. */
struct apispec *
apispec_load(const char *path, const char **errstr)
{
	struct apispec *spec;
	const cJSON *version, *methods;
	const char *err = NULL;
	char *buf;
	size_t len = 0;

	if ((buf = apispec_slurp(path, &len)) == NULL) {
		*errstr = strerror(errno);
		return NULL;
	}
	spec = xcalloc(1, sizeof(*spec));
	spec->root = cJSON_ParseWithLength(buf, len);
	free(buf);
	if (spec->root == NULL || !cJSON_IsObject(spec->root))
		err = "not a JSON object";
	else {
		version = cJSON_GetObjectItemCaseSensitive(spec->root, "version");
		methods = cJSON_GetObjectItemCaseSensitive(spec->root, "methods");
		spec->types = cJSON_GetObjectItemCaseSensitive(spec->root, "types");
		if (!cJSON_IsString(version) || !cJSON_IsObject(methods))
			err = "no version or methods";
		else {
			spec->version = version->valuestring;
			err = apispec_index(spec, methods);
		}
	}
	if (err == NULL && spec->nmethods == 0)
		err = "no methods";
	if (err != NULL) {
		apispec_free(spec);
		*errstr = err;
		return NULL;
	}
	return spec;
}

/* Free the description and its index. */
void
apispec_free(struct apispec *spec)
{
	if (spec == NULL)
		return;
	cJSON_Delete(spec->root);
	free(spec->methods);
	free(spec);
}

/* The description's version string. */
const char *
apispec_version(const struct apispec *spec)
{
	return spec->version;
}

/* How many methods the description has. */
size_t
apispec_nmethods(const struct apispec *spec)
{
	return spec->nmethods;
}

/* Find a method by name, ignoring case. */
static const struct apimethod *
apispec_find(const struct apispec *spec, const char *name)
{
	struct apimethod key = { name, NULL };

	if (name == NULL)
		return NULL;
	return bsearch(&key, spec->methods, spec->nmethods,
	    sizeof(*spec->methods), apimethod_cmp);
}

/* A method's canonical name, looked up ignoring case. */
const char *
apispec_method(const struct apispec *spec, const char *name)
{
	const struct apimethod *m;

	if ((m = apispec_find(spec, name)) == NULL)
		return NULL;
	return m->name;
}

/* The field object named name in a fields array, or NULL. */
static const cJSON *
apispec_field(const cJSON *fields, const char *name)
{
	const cJSON *f, *fname;

	cJSON_ArrayForEach(f, fields) {
		fname = cJSON_GetObjectItemCaseSensitive(f, "name");
		if (strcmp(fname->valuestring, name) == 0)
			return f;
	}
	return NULL;
}

/* Whether method has a parameter of that exact name. */
int
apispec_has_param(const struct apispec *spec, const char *method,
    const char *param)
{
	const struct apimethod *m;

	if ((m = apispec_find(spec, method)) == NULL || m->fields == NULL)
		return 0;
	return apispec_field(m->fields, param) != NULL;
}

/* 1 when name is one of given[0..n). */
static int
apispec_given(const char *const *given, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (given[i] != NULL && strcmp(given[i], name) == 0)
			return 1;
	return 0;
}

/* The required parameters of method not in given[]. */
size_t
apispec_missing(const struct apispec *spec, const char *method,
    const char *const *given, size_t ngiven, const char **missing, size_t max)
{
	const struct apimethod *m;
	const cJSON *f, *name;
	size_t n = 0;

	if ((m = apispec_find(spec, method)) == NULL || m->fields == NULL)
		return 0;
	cJSON_ArrayForEach(f, m->fields) {
		name = cJSON_GetObjectItemCaseSensitive(f, "name");
		if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(f, "required")))
			continue;
		if (apispec_given(given, ngiven, name->valuestring))
			continue;
		if (n < max)
			missing[n] = name->valuestring;
		n++;
	}
	return n;
}

/* Whether a type has a field of that name. */
int
apispec_type_has_field(const struct apispec *spec, const char *type,
    const char *field)
{
	const cJSON *t, *fields;

	t = cJSON_GetObjectItemCaseSensitive(spec->types, type);
	fields = cJSON_GetObjectItemCaseSensitive(t, "fields");
	if (!apispec_fields_valid(fields))
		return 0;
	return apispec_field(fields, field) != NULL;
}
