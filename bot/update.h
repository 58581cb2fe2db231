/* SPDX-License-Identifier: ISC */
/* update.h: a Bot API Update object read into what the conversation acts
 * on. Pure: no database, no I/O, so the fuzzer (fuzz/fuzz_update.c) can
 * feed it anything. */
#ifndef GREETBOT_UPDATE_H
#define GREETBOT_UPDATE_H

#include <stdint.h>

#include <cjson/cJSON.h>

#define UPDATE_COMMAND_MAX	32	/* bytes of a command kept, "/" included */

enum update_kind {
	UPDATE_OTHER,		/* a kind the bot does not act on */
	UPDATE_MESSAGE,
	UPDATE_CALLBACK,	/* callback_query: a button press */
	UPDATE_MEMBER,		/* my_chat_member */
	UPDATE_EDITED,		/* edited_message */
};

/* What a button's callback_data asks for. */
enum update_button {
	UPDATE_BUTTON_NONE,	/* no data, or none of ours */
	UPDATE_BUTTON_RETRY,	/* "retry:<asset id>" */
	UPDATE_BUTTON_CONFIRM,	/* "ok:<pending_seq>" */
	UPDATE_BUTTON_CHANGE,	/* "chg:<pending_seq>" */
	UPDATE_BUTTON_STRESS,	/* "st:<pending_seq>:<part>:<vowel>" */
};

/*
 * Strings point into the cJSON tree, which must outlive the update. Ids
 * that are absent or not numbers are 0 (tg_json_int64).
 */
struct update {
	int64_t			 id;		/* update_id */
	enum update_kind	 kind;
	int			 complete;	/* has what its kind needs (below) */
	int64_t			 user_id;	/* from.id */
	int64_t			 chat_id;	/* where to answer */
	const char		*language;	/* from.language_code, or NULL */
	int			 private_chat;	/* chat.type is "private" */
	const char		*text;		/* message text, or NULL */
	char			 command[UPDATE_COMMAND_MAX + 1]; /* "" when no command */
	int			 has_contact;
	int64_t			 contact_user;	/* contact.user_id */
	const char		*phone;		/* contact.phone_number, or NULL */
	const char		*callback_id;	/* callback_query.id */
	enum update_button	 button;
	int64_t			 asset_id;	/* UPDATE_BUTTON_RETRY */
	int			 seq;		/* UPDATE_BUTTON_CONFIRM, _CHANGE, _STRESS */
	int			 part, vowel;	/* UPDATE_BUTTON_STRESS (names.h) */
	int64_t			 message_id;	/* the pressed button's message */
	const char		*member_status;	/* new_chat_member.status, or NULL */
};

/*
 * Read one Update. complete is set when the kind's fields are there:
 * a message has from and chat; an edit has from and chat.type; a button
 * press has id and from; my_chat_member has new_chat_member.status.
 * Messages and edits answer in chat.id, button presses in the chat of
 * their message, else the user's own.
 */
void	 update_parse(const cJSON *, struct update *);
/* E.164 of a contact's phone number: '+' and its digits (xmalloc'd). */
char	*update_phone_e164(const char *);

#endif
