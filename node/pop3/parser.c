/*
 * parser.c - POP3 command line framing and splitting (RFC 1939 §3, RFC 2449
 * §4, RFC 5034 §4 for the SASL continuation lines). See parser.h for the
 * contract. Bytes are copied into the parser's own bounded line buffer, so
 * input may arrive in any pieces (one byte at a time in the tests).
 */
#include "node/pop3/parser.h"

#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

void
pop3_parser_init(struct pop3_parser *p, const struct pop3_parse_limits *lim)
{
	memset(p, 0, sizeof(*p));
	if (lim != NULL)
		p->lim = *lim;
	if (p->lim.max_auth_line == 0 || p->lim.max_auth_line > POP3_AUTH_LINE_MAX)
		p->lim.max_auth_line = POP3_AUTH_LINE_MAX;
	if (p->lim.max_line < POP3_LINE_MAX)
		p->lim.max_line = POP3_LINE_MAX;
	if (p->lim.max_line > POP3_AUTH_LINE_MAX)
		p->lim.max_line = POP3_AUTH_LINE_MAX;
	if (p->lim.max_auth_line < p->lim.max_line)
		p->lim.max_auth_line = p->lim.max_line;
	if (p->lim.max_args == 0 || p->lim.max_args > POP3_ARGS_MAX)
		p->lim.max_args = POP3_ARGS_MAX;
	p->line = xmalloc(p->lim.max_auth_line);
}

void
pop3_parser_fini(struct pop3_parser *p)
{
	if (p->line != NULL) {
		pop3_parser_wipe(p);
		free(p->line);
	}
	p->line = NULL;
}

void
pop3_parser_set_raw(struct pop3_parser *p, bool raw)
{
	p->raw = raw;
}

void
pop3_parser_reset(struct pop3_parser *p)
{
	p->len = 0;
	p->skipping = false;
}

void
pop3_parser_wipe(struct pop3_parser *p)
{
	/* volatile: the compiler must not drop the stores to a dead buffer */
	volatile char *v = p->line;

	for (size_t i = 0; i < p->lim.max_auth_line; i++)
		v[i] = 0;
}

static bool
is_alpha(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* Split one complete line (CR and LF removed) into a command. */
static enum pop3_parse_result
parse_command(
    struct pop3_parser *p, const char *s, size_t len, struct pop3_cmd *cmd, const char **reason)
{
	size_t i = 0, kw;

	if (len == 0) {
		*reason = "empty command";
		return POP3_PARSE_BAD;
	}
	for (size_t j = 0; j < len; j++) {
		unsigned char c = (unsigned char)s[j];

		/* RFC 1939 §3: printable ASCII; TAB and controls are not part of
		 * any command (8-bit bytes may appear in a PASS argument) */
		if (c < 0x20 || c == 0x7f) {
			*reason = "invalid characters in command";
			return POP3_PARSE_BAD;
		}
	}
	while (i < len && s[i] != ' ')
		i++;
	kw = i;
	if (kw < 3 || kw > POP3_KEYWORD_MAX) {
		*reason = "invalid command";
		return POP3_PARSE_BAD;
	}
	for (size_t j = 0; j < kw; j++) {
		if (!is_alpha((unsigned char)s[j])) {
			*reason = "invalid command";
			return POP3_PARSE_BAD;
		}
		cmd->keyword[j] = (char)(s[j] & ~0x20);
	}
	cmd->keyword[kw] = '\0';
	/* RFC 2449 §4: 255 octets with CRLF; AUTH may use up to max_auth_line */
	if (strcmp(cmd->keyword, "AUTH") != 0 && len + 2 > p->lim.max_line) {
		*reason = "line too long";
		return POP3_PARSE_BAD;
	}
	if (kw < len) {
		cmd->rest.ptr = s + kw + 1;
		cmd->rest.len = len - kw - 1;
	} else {
		cmd->rest.ptr = s + len;
		cmd->rest.len = 0;
	}
	if (strcmp(cmd->keyword, "PASS") == 0) {
		if (cmd->rest.len > 0) {
			cmd->args[0] = cmd->rest;
			cmd->nargs = 1;
		}
		return POP3_PARSE_DONE;
	}
	/* arguments separated by spaces; runs of spaces are tolerated */
	i = kw;
	for (;;) {
		size_t start;

		while (i < len && s[i] == ' ')
			i++;
		if (i >= len)
			break;
		start = i;
		while (i < len && s[i] != ' ')
			i++;
		if (cmd->nargs >= p->lim.max_args) {
			*reason = "too many arguments";
			return POP3_PARSE_BAD;
		}
		cmd->args[cmd->nargs].ptr = s + start;
		cmd->args[cmd->nargs].len = i - start;
		cmd->nargs++;
	}
	return POP3_PARSE_DONE;
}

enum pop3_parse_result
pop3_parser_feed(struct pop3_parser *p, const void *data, size_t len, size_t *consumed_out,
    struct pop3_cmd *cmd_out, const char **reason_out)
{
	const char *in = data;
	size_t i = 0, n;
	enum pop3_parse_result r;

	*reason_out = NULL;
	memset(cmd_out, 0, sizeof(*cmd_out));
	for (; i < len; i++) {
		if (in[i] == '\n')
			break;
		if (p->skipping)
			continue;
		/* the stored bytes (a CR included) plus the LF fit the limit */
		if (p->len + 2 > p->lim.max_auth_line) {
			p->skipping = true;
			continue;
		}
		p->line[p->len++] = in[i];
	}
	if (i == len) {
		*consumed_out = len;
		return POP3_PARSE_MORE;
	}
	*consumed_out = i + 1;
	n = p->len;
	p->len = 0;
	if (p->skipping) {
		p->skipping = false;
		*reason_out = "line too long";
		return POP3_PARSE_BAD;
	}
	if (n > 0 && p->line[n - 1] == '\r')
		n--;
	if (p->raw) {
		cmd_out->line.ptr = p->line;
		cmd_out->line.len = n;
		return POP3_PARSE_DONE;
	}
	r = parse_command(p, p->line, n, cmd_out, reason_out);
	if (r != POP3_PARSE_DONE) {
		cmd_out->keyword[0] = '\0';
		cmd_out->nargs = 0;
	}
	return r;
}
