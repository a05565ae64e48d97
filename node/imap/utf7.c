/*
 * utf7.c - modified UTF-7 (RFC 3501 §5.1.3) <-> UTF-8, both strict.
 *
 * Strictness is what makes the fuzz property hold: every string the decoder
 * accepts is exactly what the encoder produces for the decoded name, so a
 * mailbox has one wire spelling and two spellings can never name two folders
 * that look identical (Dovecot's imap-utf7.c makes the same choice).
 */
#include "node/imap/utf7.h"

#include <stdint.h>

#include "lib/codec.h"
#include "lib/utf8.h"

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* utf8_next - the code point at s[*i] (validated by lib/utf8); -1 when
 * the sequence is malformed. */
static int32_t
utf8_next(const unsigned char *s, size_t len, size_t *i)
{
	size_t n = utf8_seq_len(s + *i, len - *i);
	uint32_t cp;

	if (n == 0)
		return -1;
	cp = n == 1 ? s[*i] : (uint32_t)(s[*i] & (0x7f >> n));
	for (size_t k = 1; k < n; k++)
		cp = (cp << 6) | (s[*i + k] & 0x3f);
	*i += n;
	return (int32_t)cp;
}

static int
put_utf8(struct buf *out, uint32_t cp)
{
	uint8_t b[4];
	size_t n = utf8_encode(cp, b);

	/* cp comes from UTF-16 decoding: never a surrogate, <= U+10FFFF. */
	return buf_append(out, b, n);
}

struct b64w {
	uint32_t bits;
	unsigned nbits;
};

static int
b64w_put16(struct b64w *w, struct buf *out, uint16_t u)
{
	int rc;

	w->bits = (w->bits << 16) | u;
	w->nbits += 16;
	while (w->nbits >= 6) {
		w->nbits -= 6;
		if ((rc = buf_append(out, &b64chars[(w->bits >> w->nbits) & 0x3f], 1)) != 0)
			return rc;
	}
	w->bits &= (1u << w->nbits) - 1;
	return 0;
}

static int
b64w_end(struct b64w *w, struct buf *out)
{
	int rc;

	if (w->nbits > 0) {
		/* Pad the last group with zero bits (canonical). */
		rc = buf_append(out, &b64chars[(w->bits << (6 - w->nbits)) & 0x3f], 1);
		if (rc != 0)
			return rc;
	}
	w->bits = 0;
	w->nbits = 0;
	return buf_append(out, "-", 1);
}

int
imap_utf7_encode(struct slice in, struct buf *out, struct mn_err *err)
{
	const unsigned char *s = (const unsigned char *)in.ptr;
	size_t start = out->len, i = 0;
	struct b64w w = {0, 0};
	bool in_run = false;
	int rc = 0;

	while (i < in.len) {
		size_t at = i;
		int32_t cp = utf8_next(s, in.len, &i);

		if (cp < 0) {
			rc = mn_err_set(err, MN_EINVAL, "Invalid UTF-8 at byte %zu", at);
			goto fail;
		}
		if (cp == 0) {
			rc = mn_err_set(err, MN_EINVAL, "NUL in mailbox name");
			goto fail;
		}
		if (cp >= 0x20 && cp <= 0x7e) {
			if (in_run) {
				if ((rc = b64w_end(&w, out)) != 0)
					goto fail;
				in_run = false;
			}
			rc = cp == '&' ? buf_append(out, "&-", 2)
			               : buf_append(out, &(char){(char)cp}, 1);
			if (rc != 0)
				goto fail;
			continue;
		}
		if (!in_run) {
			if ((rc = buf_append(out, "&", 1)) != 0)
				goto fail;
			in_run = true;
		}
		if (cp >= 0x10000) {
			uint32_t v = (uint32_t)cp - 0x10000;

			if ((rc = b64w_put16(&w, out, (uint16_t)(0xd800 | (v >> 10)))) != 0 ||
			    (rc = b64w_put16(&w, out, (uint16_t)(0xdc00 | (v & 0x3ff)))) != 0)
				goto fail;
		} else if ((rc = b64w_put16(&w, out, (uint16_t)cp)) != 0) {
			goto fail;
		}
	}
	if (in_run && (rc = b64w_end(&w, out)) != 0)
		goto fail;
	return 0;
fail:
	out->len = start;
	if (rc == MN_ETOOBIG)
		mn_err_set(err, rc, "Mailbox name too long");
	return rc;
}

/* put_unit - one UTF-16 unit of a base64 run; *high holds a pending high
 * surrogate. at is the input offset, for the message. */
static int
put_unit(uint32_t u, uint32_t *high, size_t at, struct buf *out, struct mn_err *err)
{
	if (*high != 0) {
		uint32_t h = *high;

		if (u < 0xdc00 || u > 0xdfff)
			return mn_err_set(err, MN_EINVAL, "Unpaired high surrogate at %zu", at);
		*high = 0;
		return put_utf8(out, 0x10000 + ((h - 0xd800) << 10) + (u - 0xdc00));
	}
	if (u >= 0xd800 && u <= 0xdbff) {
		*high = u;
		return 0;
	}
	if (u >= 0xdc00 && u <= 0xdfff)
		return mn_err_set(err, MN_EINVAL, "Unpaired low surrogate at %zu", at);
	/* Printable ASCII has one spelling, the direct one; U+0000 none. */
	if (u == 0 || (u >= 0x20 && u <= 0x7e))
		return mn_err_set(
		    err, MN_EINVAL, "Character U+%04X must not be base64-encoded at %zu", u, at);
	return put_utf8(out, u);
}

/* decode_run - the base64 run after the '&' at s[*pos]; *pos ends after '-'. */
static int
decode_run(const unsigned char *s, size_t len, size_t *pos, struct buf *out, struct mn_err *err)
{
	size_t run_start = *pos, i = *pos + 1;
	uint32_t bits = 0, high = 0;
	unsigned nbits = 0, units = 0;
	int rc, v;

	for (; i < len && s[i] != '-'; i++) {
		if ((v = codec_b64_value(s[i], ',')) < 0)
			return mn_err_set(err, MN_EINVAL, "Invalid base64 character at %zu", i);
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		units++;
		if ((rc = put_unit((bits >> nbits) & 0xffff, &high, i + 1, out, err)) != 0)
			return rc;
		bits &= (1u << nbits) - 1;
	}
	if (i >= len)
		return mn_err_set(err, MN_EINVAL, "Missing '-' after base64 at %zu", run_start);
	if (high != 0)
		return mn_err_set(err, MN_EINVAL, "Unpaired high surrogate at %zu", i);
	/* Canonical: at least one unit, fewer than 6 padding bits, all zero. */
	if (units == 0 || nbits >= 6 || bits != 0)
		return mn_err_set(err, MN_EINVAL, "Non-canonical base64 run at %zu", run_start);
	*pos = i + 1;
	return 0;
}

int
imap_utf7_decode(struct slice in, struct buf *out, struct mn_err *err)
{
	const unsigned char *s = (const unsigned char *)in.ptr;
	size_t start = out->len, i = 0;
	bool prev_run = false; /* the previous token was a base64 run */
	int rc = 0;

	while (i < in.len) {
		unsigned char c = s[i];

		if (c < 0x20 || c > 0x7e) {
			rc = mn_err_set(err, MN_EINVAL, "Invalid byte 0x%02x at %zu", c, i);
			goto fail;
		}
		if (c != '&') {
			rc = buf_append(out, &c, 1);
			i++;
			prev_run = false;
		} else if (i + 1 < in.len && s[i + 1] == '-') {
			rc = buf_append(out, "&", 1);
			i += 2;
			prev_run = false;
		} else if (prev_run) {
			/* The encoder makes one run of consecutive characters. */
			rc = mn_err_set(err, MN_EINVAL, "Two base64 runs in a row at %zu", i);
		} else {
			rc = decode_run(s, in.len, &i, out, err);
			prev_run = true;
		}
		if (rc != 0)
			goto fail;
	}
	return 0;
fail:
	out->len = start;
	if (rc == MN_ETOOBIG)
		mn_err_set(err, rc, "Mailbox name too long");
	return rc;
}
