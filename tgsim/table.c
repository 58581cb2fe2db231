/* SPDX-License-Identifier: ISC */
/*
 * table.c: tgsim's string-keyed hash table (chats, files, callback
 * queries).
 */
#include <stdlib.h>
#include <string.h>

#include "tgsim.h"
#include "xmalloc.h"

/* FNV-1a. */
static size_t
table_hash(const char *s)
{
	size_t h = 14695981039346656037ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* The value stored under key, or NULL. */
void *
table_get(const struct table *t, const char *key)
{
	struct table_entry *e;

	if (t->nbuckets == 0)
		return NULL;
	for (e = t->buckets[table_hash(key) % t->nbuckets]; e; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e->value;
	return NULL;
}

/* Double the bucket array and rehash. */
static void
table_grow(struct table *t)
{
	size_t n = t->nbuckets ? t->nbuckets * 2 : 64;
	struct table_entry **b = xcalloc(n, sizeof(*b)), *e, *next;

	for (size_t i = 0; i < t->nbuckets; i++) {
		for (e = t->buckets[i]; e; e = next) {
			next = e->next;
			e->next = b[table_hash(e->key) % n];
			b[table_hash(e->key) % n] = e;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

/* Add a key that is not in the table yet (the key is copied). */
void
table_put(struct table *t, const char *key, void *value)
{
	struct table_entry *e;
	size_t i;

	if (t->n >= t->nbuckets)
		table_grow(t);
	e = xmalloc(sizeof(*e));
	e->key = xstrdup(key);
	e->value = value;
	i = table_hash(key) % t->nbuckets;
	e->next = t->buckets[i];
	t->buckets[i] = e;
	t->n++;
}

/* Empty the table, passing each value to fn (when not NULL). */
void
table_clear(struct table *t, void (*fn)(void *))
{
	struct table_entry *e, *next;

	for (size_t i = 0; i < t->nbuckets; i++) {
		for (e = t->buckets[i]; e; e = next) {
			next = e->next;
			if (fn != NULL)
				fn(e->value);
			free(e->key);
			free(e);
		}
	}
	free(t->buckets);
	memset(t, 0, sizeof(*t));
}
