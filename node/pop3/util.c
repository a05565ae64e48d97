/*
 * util.c - the pure parts of the POP3 server (see pop3.h): plaintext
 * policy, the CAPA list (RFC 2449 §5-6), SASL PLAIN decoding (RFC 4616,
 * RFC 5034), message-number arguments (RFC 1939 §5) and the RETR/TOP
 * byte-stuffing (RFC 1939 §3, §7). No I/O, no state beyond the arguments.
 */
#include "node/pop3/pop3.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

#include "lib/xalloc.h"

bool
pop3_plaintext_allowed(bool tls, bool loopback)
{
	return tls || loopback;
}

void
pop3_capa_render(struct buf *out, bool plaintext_ok, bool stls_ok)
{
	buf_append_str(out, "+OK Capability list follows\r\n"
	                    "TOP\r\n"
	                    "UIDL\r\n"
	                    "RESP-CODES\r\n"
	                    "AUTH-RESP-CODE\r\n"
	                    "PIPELINING\r\n");
	/* RFC 2595 §4 spirit: do not offer what would be refused */
	if (plaintext_ok)
		buf_append_str(out, "USER\r\nSASL PLAIN\r\n");
	if (stls_ok)
		buf_append_str(out, "STLS\r\n");
	buf_append_str(out, "IMPLEMENTATION mailnode\r\n.\r\n");
}

static bool
b64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

int
pop3_sasl_plain_decode(const char *b64, size_t len, char *authcid_out, char *pass_out)
{
	size_t pad = 0, dlen,
	       maxdec = 1 + POP3_MAX_AUTHCID + 1 + POP3_MAX_AUTHCID + 1 + POP3_MAX_PASSWORD;
	unsigned char *dec;
	const unsigned char *a, *z, *p1, *p2;
	int n, rc = MN_EPARSE;

	authcid_out[0] = pass_out[0] = '\0';
	if (len == 0 || len % 4 != 0 || len / 4 * 3 > maxdec + 2)
		return MN_EPARSE;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)b64[i];

		if (c == '=' && i >= len - 2) {
			pad++;
			continue;
		}
		if (!b64_char(c) || pad > 0)
			return MN_EPARSE;
	}
	dec = xmalloc(len / 4 * 3 + 1);
	n = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)len);
	if (n < 0 || (size_t)n < pad)
		goto out;
	dlen = (size_t)n - pad;
	/* authzid NUL authcid NUL passwd: exactly two NULs */
	z = dec;
	p1 = memchr(z, 0, dlen);
	if (p1 == NULL)
		goto out;
	a = p1 + 1;
	p2 = memchr(a, 0, dlen - (size_t)(a - dec));
	if (p2 == NULL || memchr(p2 + 1, 0, dlen - (size_t)(p2 + 1 - dec)) != NULL)
		goto out;
	{
		size_t zl = (size_t)(p1 - z), al = (size_t)(p2 - a);
		size_t pl = dlen - (size_t)(p2 + 1 - dec);

		if (al == 0 || al > POP3_MAX_AUTHCID || pl == 0 || pl > POP3_MAX_PASSWORD)
			goto out;
		if (zl != 0 &&
		    (zl != al || ascii_ncasecmp((const char *)z, (const char *)a, al) != 0)) {
			rc = MN_EPERM;
			goto out;
		}
		memcpy(authcid_out, a, al);
		authcid_out[al] = '\0';
		memcpy(pass_out, p2 + 1, pl);
		pass_out[pl] = '\0';
		rc = 0;
	}
out:
	OPENSSL_cleanse(dec, len / 4 * 3 + 1);
	free(dec);
	return rc;
}

int
pop3_msgnum(struct slice arg, size_t n, size_t *idx_out)
{
	uint64_t v = 0;

	if (arg.len == 0 || arg.len > 10)
		return -1;
	for (size_t i = 0; i < arg.len; i++) {
		if (arg.ptr[i] < '0' || arg.ptr[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(arg.ptr[i] - '0');
	}
	if (v == 0 || v > n)
		return -1;
	*idx_out = (size_t)(v - 1);
	return 0;
}

void
pop3_stuffer_init(struct pop3_stuffer *st, bool top, uint64_t lines)
{
	memset(st, 0, sizeof(*st));
	st->top = top;
	st->lines_left = lines;
	st->at_bol = true;
	st->line_empty = true;
	st->in_header = true;
}

size_t
pop3_stuffer_feed(
    struct pop3_stuffer *st, const uint8_t *in, size_t len, uint8_t *out, size_t *out_len)
{
	size_t o = 0, i;

	for (i = 0; i < len && !st->done; i++) {
		uint8_t c = in[i];

		if (c == '\n') {
			if (!st->prev_cr)
				out[o++] = '\r';
			out[o++] = '\n';
			if (st->top) {
				if (st->in_header) {
					if (st->line_empty) {
						st->in_header = false;
						if (st->lines_left == 0)
							st->done = true;
					}
				} else if (--st->lines_left == 0) {
					st->done = true;
				}
			}
			st->at_bol = st->line_empty = true;
			st->prev_cr = false;
			continue;
		}
		if (st->at_bol && c == '.')
			out[o++] = '.';
		out[o++] = c;
		st->at_bol = false;
		st->prev_cr = c == '\r';
		if (c != '\r')
			st->line_empty = false;
	}
	*out_len = o;
	return i;
}

size_t
pop3_stuffer_finish(struct pop3_stuffer *st, uint8_t *out)
{
	size_t o = 0;

	if (!st->at_bol) {
		/* a message without a final line end; a lone CR gets its LF */
		if (!st->prev_cr)
			out[o++] = '\r';
		out[o++] = '\n';
	}
	memcpy(out + o, ".\r\n", 3);
	return o + 3;
}
