/* SPDX-License-Identifier: ISC */
/*
 * history.h: what a parent and a bot said to each other (table history),
 * kept history_days for support: written by greetbot-tg where it applies
 * an update and where its sender's call succeeds or fails for good, read
 * by greetctl history, erased by greetctl forget, pruned by greetbotd.
 */
#ifndef GREETBOT_HISTORY_H
#define GREETBOT_HISTORY_H

#include <sqlite3.h>
#include <stdint.h>

#define HISTORY_IN	"in"	/* the parent to the bot */
#define HISTORY_OUT	"out"	/* the bot to the parent */

/*
 * One event of a user's conversation with a bot, in the caller's
 * transaction: dir HISTORY_IN or HISTORY_OUT, a kind (in: command, text,
 * contact, button, other, edited, member; out: message, voice, video,
 * failed), what was said (may be NULL) and a JSON object of the rest
 * (buttons, the asset, an error; may be NULL).
 */
void	 history_add(sqlite3 *, const char *bot, int64_t user, const char *dir,
	    const char *kind, const char *text, const char *detail);
/* What the bot sent to a chat, as history_add: kept only for a private
 * chat of a user we know (its id is the user's), never for a group's or
 * the admin's. */
void	 history_sent(sqlite3 *, const char *bot, int64_t chat, const char *kind,
	    const char *text, const char *detail);
/* A phone number with every digit but the first and the last four
 * masked, "+7******1234" (allocated); short numbers keep fewer. */
char	*history_mask_phone(const char *phone);
/*
 * Retention: at most batch rows older than before (unix seconds) deleted
 * in one transaction: the history first, then the outbox rows sent or
 * failed (the texts of what was sent). How many, or -1 (the database
 * could not take it now: nothing was deleted).
 */
int	 history_prune(sqlite3 *, int64_t before, int batch);

#endif
