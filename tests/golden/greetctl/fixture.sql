-- tests/golden/greetctl/fixture.sql: the database behind greetctl's golden
-- outputs (tests/t/0510-greetctl-golden.sh), loaded into a schema that
-- greetbotd made. Fixed times (2025-12-03, shown in UTC), two render
-- nodes, every state of users, assets, requests and jobs, attempts of
-- every outcome, a name with a control character, a long name, a running
-- render, and rows of another bot that must not show unless the
-- configuration names it (the bots-* cases), among them an asset that
-- shares the running render of the main bot's asset 3; parked updates of
-- both bots, one with a bidi override in its payload and one whose
-- payload is not JSON.
BEGIN;

INSERT INTO users (bot_id, user_id, chat_id, phone, first_name, language, state,
	pending_name, pending_seq, blocked, created_at, updated_at) VALUES
	('main', 1001, 1001, '+79001234567', 'Анна', 'ru', 'IDLE', NULL, 2, 0,
		1764748800, 1764749400),
	('main', 1002, 1002, '+15551234567', 'John', 'en', 'AWAIT_CONFIRM', 'Lev', 5, 0,
		1764748920, 1764750000),
	('main', 1003, 1003, NULL, 'Evil' || char(27) || '[31mRed', NULL, 'AWAIT_CONTACT', NULL,
		0, 1, 1764749000, 1764749100),
	('main', 1004, 1004, '+491701234567', 'Jürgen', 'de', 'NEW', NULL, 0, 0,
		1764751200, 1764751200),
	('other', 1001, 1001, '+79001234567', 'Анна (other bot)', 'ru', 'IDLE', NULL, 0, 0,
		1764748800, 1764748800);
-- An operator blocked Jürgen (greetctl block).
UPDATE users SET barred_at = 1764751500 WHERE bot_id = 'main' AND user_id = 1004;

INSERT INTO assets (id, bot_id, template_id, template_version, name_key, display_name,
	state, file_id, file_path, created_at, updated_at) VALUES
	(1, 'main', 'ru-birthday', '3f9a0c1d2e4b5a69', 'маша', 'Маша', 'AVAILABLE',
		'BAACAgIAAxkDAAIBfixture1', '/var/lib/greetbot/assets/1.mp4', 1764748860, 1764748880),
	(2, 'main', 'ru-birthday', '3f9a0c1d2e4b5a69', 'саша', 'Саша', 'FAILED', NULL, NULL,
		1764749000, 1764749300),
	(3, 'main', 'en-birthday', '77d0e1f2a3b4c5d6', 'emma', 'Emma', 'GENERATING', NULL, NULL,
		1764750000, 1764750010),
	(4, 'main', 'ru-birthday', '3f9a0c1d2e4b5a69', 'анна-мария-луиза-кристина-виктория',
		'Анна-Мария-Луиза-Кристина-Виктория', 'PENDING', NULL, NULL, 1764750100, 1764750200),
	(5, 'main', 'en-birthday', '77d0e1f2a3b4c5d6', 'lev', 'Lev', 'PENDING', NULL, NULL,
		1764750300, 1764750300),
	(6, 'other', 'ru-birthday', '3f9a0c1d2e4b5a69', 'маша', 'Маша', 'AVAILABLE',
		'BAACAgIAAxkDAAIBother', '/var/lib/greetbot/assets/6.mp4', 1764748860, 1764748880);
INSERT INTO assets (id, bot_id, template_id, template_version, name_key, display_name,
	state, shares, created_at, updated_at) VALUES
	(7, 'other', 'en-birthday', '77d0e1f2a3b4c5d6', 'emma', 'Emma', 'PENDING', 3,
		1764750005, 1764750005);

INSERT INTO requests (id, bot_id, user_id, chat_id, asset_id, state, language,
	status_message_id, created_at, updated_at) VALUES
	(1, 'main', 1001, 1001, 1, 'COMPLETED', 'ru', 11, 1764748860, 1764748885),
	(2, 'main', 1002, 1002, 1, 'COMPLETED', 'en', NULL, 1764749000, 1764749002),
	(3, 'main', 1001, 1001, 2, 'FAILED', 'ru', 15, 1764749010, 1764749300),
	(4, 'main', 1002, 1002, 3, 'PENDING', 'en', 21, 1764750000, 1764750000),
	(5, 'main', 1003, 1003, 4, 'CANCELLED', NULL, NULL, 1764750100, 1764750150),
	(6, 'main', 1001, 1001, 4, 'PENDING', 'ru', 17, 1764750120, 1764750120),
	(7, 'main', 1002, 1002, 5, 'PENDING', 'en', 23, 1764750300, 1764750300),
	(8, 'other', 1001, 1001, 6, 'COMPLETED', 'ru', 3, 1764748860, 1764748885),
	(9, 'other', 1001, 1001, 7, 'PENDING', 'en', 5, 1764750005, 1764750005);

INSERT INTO jobs (id, asset_id, state, attempts, next_attempt_at, published_at, node,
	created_at, updated_at) VALUES
	(1, 1, 'DONE', 1, 0, 1764748861, 'node-a', 1764748860, 1764748880),
	(2, 2, 'FAILED', 3, 0, 1764749200, 'node-a', 1764749010, 1764749300),
	(3, 3, 'RUNNING', 1, 0, 1764750001, 'node-b', 1764750000, 1764750010),
	(4, 4, 'RETRY_WAIT', 1, 1764750260, NULL, 'node-a', 1764750100, 1764750200),
	(5, 5, 'QUEUED', 0, 0, NULL, NULL, 1764750300, 1764750300),
	(6, 6, 'DONE', 1, 0, 1764748861, 'node-a', 1764748860, 1764748880);

INSERT INTO attempts (id, job_id, asset_id, node, started_at, finished_at, status,
	exit_code, signal, cause, cpu_seconds, max_rss_kb, duration, stderr_tail) VALUES
	(1, 1, 1, 'node-a', 1764748861.25, 1764748871.75, 'ok', 0, 0, 'rendered', 7.87, 252476,
		10.5, 'progress 1.00' || char(10)),
	(2, 2, 2, 'node-a', 1764749011.0, 1764749013.5, 'tempfail', 75, 0,
		'temporary failure (75)', 0.41, 30112, 2.5,
		'render.sh: step 1' || char(10) || 'render.sh: step 2' || char(10) ||
		'render.sh: step 3' || char(10) || 'render.sh: step 4' || char(10) ||
		'render.sh: step 5' || char(10) || 'render.sh: espeak-ng failed' || char(10)),
	(3, 2, 2, 'node-b', 1764749100.0, 1764749160.0, 'timeout', 0, 15,
		'no result within 60 s', 59.9, 812344, 60.0, 'progress 0.42' || char(10)),
	(4, 2, 2, 'node-a', 1764749290.0, 1764749291.0, 'template_broken', 78, 0,
		'template is broken (78)', 0.12, 10240, 1.0,
		'render.sh: background media/background.mp4: no video stream' || char(27) ||
		'[2J' || char(10)),
	(5, 4, 4, 'node-a', 1764750101.0, 1764750199.5, 'limit', 0, 9,
		'the script was killed by SIGKILL (CPU limit or out of memory)', 120.02, 2097152,
		98.5, ''),
	(6, 3, 3, 'node-b', 1764750002.0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	(7, 6, 6, 'node-a', 1764748861.0, 1764748870.0, 'ok', 0, 0, 'rendered', 7.0, 250000,
		9.0, '');

INSERT INTO outbox (id, bot_id, chat_id, kind, method, params, request_id, asset_id, state,
	attempts, next_at, last_error, result_message_id, created_at, sent_at) VALUES
	(1, 'main', 1001, 'video', 'sendVideo', '{}', 1, 1, 'SENT', 1, 0, NULL, 12, 1764748880,
		1764748885),
	(2, 'main', 1002, 'video', 'sendVideo', '{}', 2, 1, 'SENT', 1, 0, NULL, 31, 1764749001,
		1764749002),
	(3, 'main', 1001, 'notice', 'sendMessage', '{}', 3, 2, 'SENT', 1, 0, NULL, 16,
		1764749300, 1764749301),
	(4, 'main', 1002, 'accepted', 'sendMessage', '{}', 7, 5, 'PENDING', 0, 0, NULL, NULL,
		1764750300, NULL),
	(5, 'main', 1003, 'message', 'sendMessage', '{}', NULL, NULL, 'FAILED', 5, 0,
		'403 Forbidden: bot was blocked by the user', NULL, 1764749050, NULL),
	(6, 'other', 1001, 'video', 'sendVideo', '{}', 8, 6, 'SENT', 1, 0, NULL, 4, 1764748880,
		1764748885);

INSERT INTO parked (id, bot_id, kind, ref, error, payload, created_at) VALUES
	(1, 'main', 'update', 100000001, 'NOT NULL constraint failed: requests.language',
		'{"update_id":100000001,"message":{"message_id":77,"from":{"id":1002,' ||
		'"first_name":"John' || char(8238) || 'x","language_code":"en"},"chat":' ||
		'{"id":1002,"type":"private"},"date":1764750400,"text":"Lev"}}', 1764750401),
	(2, 'main', 'update', 100000002, 'database disk image is malformed', 'not json' ||
		char(27) || '[2J', 1764750500),
	(3, 'other', 'update', 200000001, 'CHECK constraint failed: users',
		'{"update_id":200000001}', 1764750600);

COMMIT;
