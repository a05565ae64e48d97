/*
 * parser.c - incremental IMAP4rev1 command parser (RFC 3501 §9, RFC 7888).
 *
 * One byte loop over a switch on the saved state (nginx ngx_mail_parse.c):
 * nothing is re-scanned when more input arrives, and the same code serves the
 * session, the byte-at-a-time tests and the fuzzer. The bytes of the current
 * command (tag, name, atom text, unescaped quoted strings, literal octets) are
 * copied once into one buffer bounded by max_command; argument nodes record
 * offsets into it and become slices only when the command is complete, so the
 * buffer may move while it grows.
 *
 * Errors: a grammar or limit violation records the first error and switches
 * to PS_SKIP, which drops bytes up to the end of the command line while still
 * recognising literal headers ("{N}" / "{N+}" right before CRLF), so that
 * literal octets of a bad command are never parsed as commands (see parser.h
 * for the policy on oversized literals). BAD is returned only when the whole
 * bad command has been consumed, so replies stay in command order.
 */
#include "node/imap/parser.h"

#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/xalloc.h"

#define NODE_NONE UINT32_MAX
/* A literal size past 32 bits (RFC 3501 number) is only "too big"; the
 * accumulator stops here so that it cannot overflow. */
#define LIT_SATURATED (UINT64_C(1) << 32)
/* Keep a command buffer this big between commands; free a bigger one (an
 * APPEND literal) so an idle session does not hold megabytes. */
#define KEEP_BUFFER_CAP 65536

enum pstate {
	PS_TAG,
	PS_NAME,
	PS_ARG_START,
	PS_AFTER_ARG,
	PS_ATOM,
	PS_ATOM_BRACKET,
	PS_ATOM_BQUOTED,
	PS_ATOM_BQESC,
	PS_QUOTED,
	PS_QUOTED_ESC,
	PS_LIT_NUM,
	PS_LIT_PLUS,
	PS_LIT_EOL,
	PS_LITERAL,
	PS_CR,
	PS_SKIP,
	PS_DISCARD,
	PS_DONE,
	PS_FATAL,
};

/* Literal-header recogniser used while skipping a bad line. */
enum skstate {
	SK_NONE,
	SK_DIGITS,
	SK_PLUS,
	SK_CLOSE,
	SK_CLOSE_CR,
};

/* Step results: consume the byte, look at it again in the new state, or stop. */
enum step {
	R_NEXT,
	R_AGAIN,
	R_CONTINUE,
	R_DONE,
	R_BAD,
	R_FATAL,
};

struct pnode {
	enum imap_arg_type type;
	bool plus;
	size_t off;
	size_t len;
	uint32_t n_children;
	uint32_t next;
};

struct imap_parser {
	struct imap_parser_limits lim;
	enum pstate state;
	enum pstate cr_from; /* state to resume with the LF after a CR */
	struct buf data;

	struct pnode *nodes;
	struct imap_arg *out;
	uint32_t n_nodes;
	uint32_t cap_nodes;
	uint32_t cap_out;
	uint32_t n_top;

	/* Open lists: stack_list[d] is the LIST node of level d (d >= 1),
	 * stack_last[d] the last child added at level d (0 = top level). */
	uint32_t *stack_list;
	uint32_t *stack_last;
	uint32_t depth;
	bool after_open; /* PS_ARG_START right after '(': ')' closes an empty list */
	uint32_t cur;    /* node being filled */

	size_t tag_len;
	bool tag_ok;
	size_t name_off;
	size_t name_len;
	bool name_ok;

	size_t line_bytes;
	size_t lit_bytes;

	uint64_t lit_n;
	unsigned lit_digits;
	bool lit_plus;
	size_t lit_left;

	enum imap_parse_error err;
	const char *err_msg;

	enum skstate sk;
	uint64_t sk_n;
	bool sk_plus;
	size_t discard_left;
};

void
imap_parser_limits_default(struct imap_parser_limits *out)
{
	out->max_line = IMAP_PARSER_DEFAULT_MAX_LINE;
	out->max_literal = IMAP_PARSER_DEFAULT_MAX_LITERAL;
	out->max_command = IMAP_PARSER_DEFAULT_MAX_COMMAND;
	out->max_args = IMAP_PARSER_DEFAULT_MAX_ARGS;
	out->max_depth = IMAP_PARSER_DEFAULT_MAX_DEPTH;
}

void
imap_parser_limits_preauth(struct imap_parser_limits *out)
{
	/* Before login only CAPABILITY, NOOP, LOGOUT, STARTTLS, LOGIN,
	 * AUTHENTICATE, ENABLE and ID make sense. The largest is ID: one list
	 * of at most 30 field/value pairs (RFC 2971 §3.3), 61 nodes. A LOGIN
	 * password literal needs far less than 4096 octets. */
	out->max_line = IMAP_PARSER_DEFAULT_MAX_LINE;
	out->max_literal = 4096;
	out->max_command = 16384;
	out->max_args = 64;
	out->max_depth = 1;
}

static void
limits_sanitize(struct imap_parser_limits *l)
{
	/* Zero limits would make every command fail; treat them as "tiny". */
	if (l->max_line < 1)
		l->max_line = 1;
	if (l->max_args < 1)
		l->max_args = 1;
	if (l->max_command < l->max_line)
		l->max_command = l->max_line;
}

static void
stacks_alloc(struct imap_parser *p)
{
	free(p->stack_list);
	free(p->stack_last);
	p->stack_list = xcalloc((size_t)p->lim.max_depth + 1, sizeof(uint32_t));
	p->stack_last = xcalloc((size_t)p->lim.max_depth + 1, sizeof(uint32_t));
}

static void
cmd_reset(struct imap_parser *p)
{
	if (p->data.cap > KEEP_BUFFER_CAP) {
		buf_fini(&p->data);
		buf_init(&p->data, p->lim.max_command);
	}
	buf_reset(&p->data);
	p->data.max = p->lim.max_command;
	p->state = PS_TAG;
	p->n_nodes = 0;
	p->n_top = 0;
	p->depth = 0;
	p->stack_last[0] = NODE_NONE;
	p->after_open = false;
	p->cur = NODE_NONE;
	p->tag_len = 0;
	p->tag_ok = false;
	p->name_off = 0;
	p->name_len = 0;
	p->name_ok = false;
	p->line_bytes = 0;
	p->lit_bytes = 0;
	p->lit_n = 0;
	p->lit_digits = 0;
	p->lit_plus = false;
	p->lit_left = 0;
	p->err = IMAP_PERR_NONE;
	p->err_msg = NULL;
	p->sk = SK_NONE;
	p->sk_n = 0;
	p->sk_plus = false;
	p->discard_left = 0;
}

struct imap_parser *
imap_parser_new(const struct imap_parser_limits *limits)
{
	struct imap_parser *p = xcalloc(1, sizeof(*p));

	p->lim = *limits;
	limits_sanitize(&p->lim);
	buf_init(&p->data, p->lim.max_command);
	stacks_alloc(p);
	cmd_reset(p);
	return p;
}

void
imap_parser_free(struct imap_parser **pp)
{
	struct imap_parser *p = *pp;

	if (p == NULL)
		return;
	buf_fini(&p->data);
	free(p->nodes);
	free(p->out);
	free(p->stack_list);
	free(p->stack_last);
	free(p);
	*pp = NULL;
}

void
imap_parser_reset(struct imap_parser *p)
{
	cmd_reset(p);
}

int
imap_parser_set_limits(struct imap_parser *p, const struct imap_parser_limits *limits)
{
	/* Mid-command the counters and buffers belong to the old limits. */
	if (p->state != PS_DONE && !(p->state == PS_TAG && p->line_bytes == 0))
		return MN_EINVAL;
	p->lim = *limits;
	limits_sanitize(&p->lim);
	stacks_alloc(p);
	cmd_reset(p);
	return 0;
}

const char *
imap_parse_error_str(enum imap_parse_error e)
{
	switch (e) {
	case IMAP_PERR_NONE:
		return "none";
	case IMAP_PERR_EMPTY_LINE:
		return "empty_line";
	case IMAP_PERR_BAD_TAG:
		return "bad_tag";
	case IMAP_PERR_NO_COMMAND:
		return "no_command";
	case IMAP_PERR_BAD_COMMAND:
		return "bad_command";
	case IMAP_PERR_SYNTAX:
		return "syntax";
	case IMAP_PERR_LINE_TOO_LONG:
		return "line_too_long";
	case IMAP_PERR_TOO_MANY_ARGS:
		return "too_many_args";
	case IMAP_PERR_TOO_DEEP:
		return "too_deep";
	case IMAP_PERR_LITERAL_TOO_BIG:
		return "literal_too_big";
	case IMAP_PERR_COMMAND_TOO_BIG:
		return "command_too_big";
	case IMAP_PERR_NONSYNC_LITERAL_TOO_BIG:
		return "nonsync_literal_too_big";
	}
	return "unknown";
}

/* ---- character classes (RFC 3501 §9) ----------------------------------- */

/* ATOM-CHAR: CHAR except atom-specials "(" ")" "{" SP CTL list-wildcards
 * quoted-specials resp-specials. Used for command names. */
static bool
is_atom_char_strict(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){%*\"\\]", c) == NULL;
}

/* Argument atoms: ATOM-CHAR plus '\' (flags), '%' '*' (patterns, sets) and
 * ']' (astring); '[' is in ATOM-CHAR already. */
static bool
is_atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){\"", c) == NULL;
}

/* tag = 1*<any ASTRING-CHAR except "+">; ASTRING-CHAR = ATOM-CHAR / "]". */
static bool
is_tag_char(unsigned char c)
{
	return c != '+' && (c == ']' || is_atom_char_strict(c));
}

/* ---- building the tree ---------------------------------------------------- */

static enum step
fail(struct imap_parser *p, enum imap_parse_error code, const char *msg)
{
	if (p->err == IMAP_PERR_NONE) {
		p->err = code;
		p->err_msg = msg;
	}
	p->state = PS_SKIP;
	p->sk = SK_NONE;
	return R_AGAIN; /* the offending byte is looked at again by PS_SKIP */
}

static bool
append(struct imap_parser *p, const void *d, size_t n)
{
	/* Cannot fail: everything stored was counted against max_command
	 * first. Kept as a check so that a counting bug is a BAD, not an
	 * overflow. */
	return buf_append(&p->data, d, n) == 0;
}

static bool
append_byte(struct imap_parser *p, unsigned char c)
{
	if (!append(p, &c, 1))
		return false;
	if (p->cur != NODE_NONE)
		p->nodes[p->cur].len++;
	return true;
}

/* add_node - new node at the current level; NODE_NONE past max_args. */
static uint32_t
add_node(struct imap_parser *p, enum imap_arg_type type)
{
	uint32_t idx = p->n_nodes;
	struct pnode *n;

	if (p->n_nodes >= p->lim.max_args)
		return NODE_NONE;
	if (p->n_nodes == p->cap_nodes) {
		uint32_t cap = p->cap_nodes ? p->cap_nodes * 2 : 16;

		if (cap > p->lim.max_args)
			cap = p->lim.max_args;
		p->nodes = xrealloc(p->nodes, (size_t)cap * sizeof(*p->nodes));
		p->cap_nodes = cap;
	}
	n = &p->nodes[idx];
	memset(n, 0, sizeof(*n));
	n->type = type;
	n->off = p->data.len;
	n->next = NODE_NONE;
	p->n_nodes++;

	if (p->stack_last[p->depth] != NODE_NONE)
		p->nodes[p->stack_last[p->depth]].next = idx;
	p->stack_last[p->depth] = idx;
	if (p->depth > 0)
		p->nodes[p->stack_list[p->depth]].n_children++;
	else
		p->n_top++;
	return idx;
}

static enum step
start_value(struct imap_parser *p, enum imap_arg_type type)
{
	uint32_t idx = add_node(p, type);

	if (idx == NODE_NONE)
		return fail(p, IMAP_PERR_TOO_MANY_ARGS, "Too many arguments");
	p->cur = idx;
	return R_NEXT;
}

static enum step
open_list(struct imap_parser *p)
{
	uint32_t idx;

	if (p->depth >= p->lim.max_depth)
		return fail(p, IMAP_PERR_TOO_DEEP, "Too deeply nested lists");
	idx = add_node(p, IMAP_ARG_LIST);
	if (idx == NODE_NONE)
		return fail(p, IMAP_PERR_TOO_MANY_ARGS, "Too many arguments");
	p->depth++;
	p->stack_list[p->depth] = idx;
	p->stack_last[p->depth] = NODE_NONE;
	p->after_open = true;
	p->state = PS_ARG_START;
	return R_NEXT;
}

static void
finish_atom(struct imap_parser *p)
{
	struct pnode *n = &p->nodes[p->cur];

	if (n->len == 3 && ascii_ncasecmp((const char *)p->data.data + n->off, "NIL", 3) == 0)
		n->type = IMAP_ARG_NIL;
	p->cur = NODE_NONE;
	p->state = PS_AFTER_ARG;
}

/* The fetch-att prefixes whose "[section]" may contain spaces and lists
 * (RFC 3501 fetch-att, RFC 3516 BINARY). */
static bool
bracket_prefix(const struct imap_parser *p)
{
	static const char *const prefixes[] = {
	    "BODY",
	    "BODY.PEEK",
	    "BINARY",
	    "BINARY.PEEK",
	    "BINARY.SIZE",
	};
	const struct pnode *n = &p->nodes[p->cur];
	const char *s = (const char *)p->data.data + n->off;

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t l = strlen(prefixes[i]);

		if (n->len == l && ascii_ncasecmp(s, prefixes[i], l) == 0)
			return true;
	}
	return false;
}

static void
fill_cmd(struct imap_parser *p, struct imap_cmd *cmd)
{
	const char *base = p->data.data != NULL ? (const char *)p->data.data : "";

	memset(cmd, 0, sizeof(*cmd));
	cmd->tag = (struct slice){base, p->tag_ok ? p->tag_len : 0};
	cmd->name = (struct slice){base + p->name_off, p->name_ok ? p->name_len : 0};
	cmd->error = p->err;
	cmd->error_msg = p->err_msg;
}

static enum step
finish_done(struct imap_parser *p, struct imap_cmd *cmd)
{
	const char *base = (const char *)p->data.data;

	if (p->n_nodes > p->cap_out) {
		p->out = xrealloc(p->out, (size_t)p->n_nodes * sizeof(*p->out));
		p->cap_out = p->n_nodes;
	}
	for (uint32_t i = 0; i < p->n_nodes; i++) {
		const struct pnode *n = &p->nodes[i];
		struct imap_arg *a = &p->out[i];

		a->type = n->type;
		a->str = (struct slice){n->type == IMAP_ARG_LIST ? "" : base + n->off, n->len};
		a->literal_plus = n->plus;
		a->n_children = n->n_children;
		a->child = (n->type == IMAP_ARG_LIST && n->n_children > 0) ? &p->out[i + 1] : NULL;
		a->next = n->next != NODE_NONE ? &p->out[n->next] : NULL;
	}
	fill_cmd(p, cmd);
	cmd->args = p->n_nodes > 0 ? &p->out[0] : NULL;
	cmd->n_args = p->n_top;
	cmd->n_nodes = p->n_nodes;
	p->state = PS_DONE;
	return R_DONE;
}

static enum step
finish_bad(struct imap_parser *p, struct imap_cmd *cmd)
{
	fill_cmd(p, cmd);
	p->state = PS_DONE;
	return R_BAD;
}

static enum step
finish_fatal(struct imap_parser *p, enum imap_parse_error code, const char *msg)
{
	p->err = code;
	p->err_msg = msg;
	p->state = PS_FATAL;
	return R_FATAL;
}

/* lit_close - '}' of a literal header: apply the limits before any octet. */
static enum step
lit_close(struct imap_parser *p)
{
	enum imap_parse_error code = IMAP_PERR_NONE;
	const char *msg = NULL;
	uint64_t n = p->lit_n;

	if (n > p->lim.max_literal || n > UINT32_MAX) {
		code = IMAP_PERR_LITERAL_TOO_BIG;
		msg = "Literal too big";
	} else if (n > p->lim.max_command - p->line_bytes - p->lit_bytes) {
		/* line_bytes + lit_bytes <= max_command holds here (checked
		 * per byte), so the subtraction cannot wrap. */
		code = IMAP_PERR_COMMAND_TOO_BIG;
		msg = "Command too big";
	}
	if (code != IMAP_PERR_NONE && p->lit_plus)
		return finish_fatal(
		    p, IMAP_PERR_NONSYNC_LITERAL_TOO_BIG, "Non-synchronizing literal too big");
	if (code == IMAP_PERR_NONE) {
		uint32_t idx = add_node(p, IMAP_ARG_LITERAL);

		if (idx != NODE_NONE) {
			p->nodes[idx].plus = p->lit_plus;
			p->cur = idx;
			p->lit_left = (size_t)n;
			p->state = PS_LIT_EOL;
			return R_NEXT;
		}
		code = IMAP_PERR_TOO_MANY_ARGS;
		msg = "Too many arguments";
	}
	/* Skip the rest, remembering that a literal header was just seen: a
	 * {N+} (within max_literal) is then discarded, a {N} ends the command. */
	fail(p, code, msg);
	p->sk = SK_CLOSE;
	p->sk_n = n;
	p->sk_plus = p->lit_plus;
	return R_NEXT;
}

/* skip_step - PS_SKIP: drop bytes to the end of the line, minding literals. */
static enum step
skip_step(struct imap_parser *p, unsigned char c, struct imap_cmd *cmd)
{
	if (c == '\n') {
		if (p->sk == SK_CLOSE || p->sk == SK_CLOSE_CR) {
			p->sk = SK_NONE;
			if (!p->sk_plus)
				return finish_bad(p, cmd); /* client waits for "+" */
			if (p->sk_n > p->lim.max_literal)
				return finish_fatal(p, IMAP_PERR_NONSYNC_LITERAL_TOO_BIG,
				    "Non-synchronizing literal too big");
			if (p->sk_n > 0) {
				p->discard_left = (size_t)p->sk_n;
				p->state = PS_DISCARD;
			}
			return R_NEXT;
		}
		return finish_bad(p, cmd);
	}
	if (c == '{') {
		p->sk = SK_DIGITS;
		p->sk_n = 0;
		p->sk_plus = false;
		return R_NEXT;
	}
	switch (p->sk) {
	case SK_DIGITS:
		if (c >= '0' && c <= '9') {
			p->sk_n = p->sk_n * 10 + (uint64_t)(c - '0');
			if (p->sk_n > LIT_SATURATED)
				p->sk_n = LIT_SATURATED;
			return R_NEXT;
		}
		if (c == '+') {
			p->sk = SK_PLUS;
			p->sk_plus = true;
			return R_NEXT;
		}
		if (c == '}') {
			p->sk = SK_CLOSE;
			return R_NEXT;
		}
		break;
	case SK_PLUS:
		if (c == '}') {
			p->sk = SK_CLOSE;
			return R_NEXT;
		}
		break;
	case SK_CLOSE:
		if (c == '\r') {
			p->sk = SK_CLOSE_CR;
			return R_NEXT;
		}
		break;
	case SK_NONE:
	case SK_CLOSE_CR:
		break;
	}
	p->sk = SK_NONE;
	return R_NEXT;
}

static enum step
step(struct imap_parser *p, unsigned char c, struct imap_cmd *cmd)
{
	switch (p->state) {
	case PS_TAG:
		if (is_tag_char(c)) {
			if (!append(p, &c, 1))
				return fail(p, IMAP_PERR_COMMAND_TOO_BIG, "Command too big");
			p->tag_len++;
			return R_NEXT;
		}
		if (p->tag_len == 0) {
			if (c == '\r') {
				p->cr_from = PS_TAG;
				p->state = PS_CR;
				return R_NEXT;
			}
			if (c == '\n')
				return fail(p, IMAP_PERR_EMPTY_LINE, "Empty command line");
			return fail(p, IMAP_PERR_BAD_TAG, "Invalid tag");
		}
		if (c == ' ') {
			p->tag_ok = true;
			p->name_off = p->data.len;
			p->state = PS_NAME;
			return R_NEXT;
		}
		if (c == '\r' || c == '\n') {
			p->tag_ok = true;
			return fail(p, IMAP_PERR_NO_COMMAND, "Missing command");
		}
		return fail(p, IMAP_PERR_BAD_TAG, "Invalid tag");

	case PS_NAME:
		if (is_atom_char_strict(c)) {
			if (!append(p, &c, 1))
				return fail(p, IMAP_PERR_COMMAND_TOO_BIG, "Command too big");
			p->name_len++;
			return R_NEXT;
		}
		if (c == ' ' || c == '\r' || c == '\n') {
			if (p->name_len == 0)
				return fail(p, IMAP_PERR_NO_COMMAND, "Missing command");
			p->name_ok = true;
			p->state = PS_AFTER_ARG;
			return R_AGAIN;
		}
		return fail(p, IMAP_PERR_BAD_COMMAND, "Invalid characters in command name");

	case PS_ARG_START: {
		bool after_open = p->after_open;

		p->after_open = false;
		if (c == '(')
			return open_list(p);
		if (c == ')') {
			if (!after_open)
				return fail(p, IMAP_PERR_SYNTAX, "Unexpected ')'");
			p->depth--;
			p->state = PS_AFTER_ARG;
			return R_NEXT;
		}
		if (c == '"') {
			p->state = PS_QUOTED;
			return start_value(p, IMAP_ARG_QUOTED);
		}
		if (c == '{') {
			p->lit_n = 0;
			p->lit_digits = 0;
			p->lit_plus = false;
			p->state = PS_LIT_NUM;
			return R_NEXT;
		}
		if (is_atom_char(c)) {
			enum step r;

			p->state = PS_ATOM;
			r = start_value(p, IMAP_ARG_ATOM);
			if (r != R_NEXT)
				return r;
			return R_AGAIN; /* PS_ATOM appends it */
		}
		if (c == ' ')
			return fail(p, IMAP_PERR_SYNTAX, "Extra space");
		if (c == '\r' || c == '\n')
			return fail(p, IMAP_PERR_SYNTAX,
			    after_open ? "Missing ')'" : "Missing argument after space");
		return fail(p, IMAP_PERR_SYNTAX, "Invalid character in argument");
	}

	case PS_AFTER_ARG:
		if (c == ' ') {
			p->state = PS_ARG_START;
			return R_NEXT;
		}
		if (c == ')') {
			if (p->depth == 0)
				return fail(p, IMAP_PERR_SYNTAX, "Unexpected ')'");
			p->depth--;
			return R_NEXT;
		}
		if (c == '\r') {
			p->cr_from = PS_AFTER_ARG;
			p->state = PS_CR;
			return R_NEXT;
		}
		if (c == '\n') {
			if (p->depth > 0)
				return fail(p, IMAP_PERR_SYNTAX, "Missing ')'");
			return finish_done(p, cmd);
		}
		return fail(p, IMAP_PERR_SYNTAX, "Missing space between arguments");

	case PS_ATOM:
		if (is_atom_char(c)) {
			if (c == '[' && bracket_prefix(p))
				p->state = PS_ATOM_BRACKET;
			if (!append_byte(p, c))
				return fail(p, IMAP_PERR_COMMAND_TOO_BIG, "Command too big");
			return R_NEXT;
		}
		if (c == ' ' || c == '\r' || c == '\n' || c == ')') {
			finish_atom(p);
			return R_AGAIN;
		}
		return fail(p, IMAP_PERR_SYNTAX, "Invalid character in atom");

	case PS_ATOM_BRACKET:
		if (c == ']')
			p->state = PS_ATOM;
		else if (c == '"')
			p->state = PS_ATOM_BQUOTED;
		else if (c < 0x20 || c >= 0x7f || c == '[' || c == '{')
			return fail(p, IMAP_PERR_SYNTAX, "Invalid character in section");
		if (!append_byte(p, c))
			return fail(p, IMAP_PERR_COMMAND_TOO_BIG, "Command too big");
		return R_NEXT;

	case PS_ATOM_BQUOTED:
		if (c == '"')
			p->state = PS_ATOM_BRACKET;
		else if (c == '\\')
			p->state = PS_ATOM_BQESC;
		else if (c < 0x20 || c >= 0x7f)
			return fail(p, IMAP_PERR_SYNTAX, "Invalid character in section");
		if (!append_byte(p, c))
			return fail(p, IMAP_PERR_COMMAND_TOO_BIG, "Command too big");
		return R_NEXT;

	case PS_ATOM_BQESC:
		if (c != '"' && c != '\\')
			return fail(p, IMAP_PERR_SYNTAX, "Invalid escape in quoted string");
		p->state = PS_ATOM_BQUOTED;
		if (!append_byte(p, c))
			return fail(p, IMAP_PERR_COMMAND_TOO_BIG, "Command too big");
		return R_NEXT;

	case PS_QUOTED:
		if (c == '"') {
			p->cur = NODE_NONE;
			p->state = PS_AFTER_ARG;
			return R_NEXT;
		}
		if (c == '\\') {
			p->state = PS_QUOTED_ESC;
			return R_NEXT;
		}
		if (c == '\r' || c == '\n' || c == '\0')
			return fail(p, IMAP_PERR_SYNTAX, "Unterminated quoted string");
		if (!append_byte(p, c))
			return fail(p, IMAP_PERR_COMMAND_TOO_BIG, "Command too big");
		return R_NEXT;

	case PS_QUOTED_ESC:
		if (c != '"' && c != '\\')
			return fail(p, IMAP_PERR_SYNTAX, "Invalid escape in quoted string");
		p->state = PS_QUOTED;
		if (!append_byte(p, c))
			return fail(p, IMAP_PERR_COMMAND_TOO_BIG, "Command too big");
		return R_NEXT;

	case PS_LIT_NUM:
		if (c >= '0' && c <= '9') {
			p->lit_n = p->lit_n * 10 + (uint64_t)(c - '0');
			if (p->lit_n > LIT_SATURATED)
				p->lit_n = LIT_SATURATED;
			p->lit_digits++;
			return R_NEXT;
		}
		if (p->lit_digits > 0 && c == '+') {
			p->lit_plus = true;
			p->state = PS_LIT_PLUS;
			return R_NEXT;
		}
		if (p->lit_digits > 0 && c == '}')
			return lit_close(p);
		return fail(p, IMAP_PERR_SYNTAX, "Invalid literal size");

	case PS_LIT_PLUS:
		if (c == '}')
			return lit_close(p);
		return fail(p, IMAP_PERR_SYNTAX, "Invalid literal size");

	case PS_LIT_EOL:
		if (c == '\r') {
			p->cr_from = PS_LIT_EOL;
			p->state = PS_CR;
			return R_NEXT;
		}
		if (c != '\n')
			return fail(p, IMAP_PERR_SYNTAX, "Literal header not at end of line");
		if (p->lit_left > 0) {
			p->state = PS_LITERAL;
		} else {
			p->cur = NODE_NONE;
			p->state = PS_AFTER_ARG;
		}
		/* RFC 3501 §7.5: even {0} waits for the continuation. */
		return p->lit_plus ? R_NEXT : R_CONTINUE;

	case PS_CR:
		if (c == '\n') {
			p->state = p->cr_from;
			return R_AGAIN;
		}
		return fail(p, IMAP_PERR_SYNTAX, "CR not followed by LF");

	case PS_SKIP:
		return skip_step(p, c, cmd);

	case PS_LITERAL:
	case PS_DISCARD:
	case PS_DONE:
	case PS_FATAL:
		break;
	}
	/* Unreachable: the chunked states are handled in imap_parser_feed. */
	return finish_fatal(p, IMAP_PERR_SYNTAX, "Internal parser error");
}

/* count_line_byte - account one non-literal byte; false when over a limit
 * (the error is recorded and the state is PS_SKIP). */
static bool
count_line_byte(struct imap_parser *p)
{
	p->line_bytes++;
	if (p->line_bytes > p->lim.max_line) {
		fail(p, IMAP_PERR_LINE_TOO_LONG, "Command line too long");
		return false;
	}
	if (p->line_bytes + p->lit_bytes > p->lim.max_command) {
		fail(p, IMAP_PERR_COMMAND_TOO_BIG, "Command too big");
		return false;
	}
	return true;
}

enum imap_parse_result
imap_parser_feed(struct imap_parser *p, const char *data, size_t len, size_t *consumed_out,
    struct imap_cmd *cmd_out)
{
	const unsigned char *d = (const unsigned char *)data;
	size_t i = 0;

	if (p->state == PS_FATAL) {
		fill_cmd(p, cmd_out);
		*consumed_out = 0;
		return IMAP_PARSE_FATAL;
	}
	if (p->state == PS_DONE)
		cmd_reset(p);

	while (i < len) {
		enum step r;

		if (p->state == PS_LITERAL) {
			size_t take = len - i < p->lit_left ? len - i : p->lit_left;
			const unsigned char *nul = memchr(d + i, '\0', take);

			if (nul != NULL) {
				/* RFC 3501 CHAR8 excludes NUL: the rest of this
				 * literal and line are dropped, then BAD. */
				size_t k = (size_t)(nul - (d + i)) + 1;

				p->discard_left = p->lit_left - k;
				p->lit_bytes += k;
				i += k;
				fail(p, IMAP_PERR_SYNTAX, "NUL in literal");
				if (p->discard_left > 0)
					p->state = PS_DISCARD;
				continue;
			}
			if (!append(p, d + i, take)) {
				p->discard_left = p->lit_left;
				fail(p, IMAP_PERR_COMMAND_TOO_BIG, "Command too big");
				p->state = PS_DISCARD;
				continue;
			}
			p->nodes[p->cur].len += take;
			p->lit_left -= take;
			p->lit_bytes += take;
			i += take;
			if (p->lit_left == 0) {
				p->cur = NODE_NONE;
				p->state = PS_AFTER_ARG;
			}
			continue;
		}
		if (p->state == PS_DISCARD) {
			size_t take = len - i < p->discard_left ? len - i : p->discard_left;

			p->discard_left -= take;
			i += take;
			if (p->discard_left == 0) {
				p->state = PS_SKIP;
				p->sk = SK_NONE;
			}
			continue;
		}
		if (p->state != PS_SKIP)
			(void)count_line_byte(p);
		do {
			r = step(p, d[i], cmd_out);
		} while (r == R_AGAIN);
		i++;
		switch (r) {
		case R_NEXT:
		case R_AGAIN:
			break;
		case R_CONTINUE:
			*consumed_out = i;
			return IMAP_PARSE_CONTINUE;
		case R_DONE:
			*consumed_out = i;
			return IMAP_PARSE_DONE;
		case R_BAD:
			*consumed_out = i;
			return IMAP_PARSE_BAD;
		case R_FATAL:
			fill_cmd(p, cmd_out);
			*consumed_out = i;
			return IMAP_PARSE_FATAL;
		}
	}
	*consumed_out = i;
	return IMAP_PARSE_MORE;
}
