/* Pure parsing of the kernel command line and of the flint.run= argv encoding (no syscalls). */
#include "cmdline.h"

#include <string.h>

static bool cmdline_is_space(char c)
{
	/* The kernel's isspace(): what separates parameters on its command line. */
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/*
 * One parameter, split exactly as the kernel's next_arg() does, so that what
 * we see as "flint.run" is what the kernel saw: a leading quote makes the
 * whole parameter quoted, quotes toggle grouping, the first '=' (not at
 * position 0) separates the value, and surrounding quotes are stripped.
 */
struct cmdline_param {
	const char *name;
	size_t name_len;
	bool has_eq;
	struct cmdline_value val;
};

static size_t cmdline_next(const char *s, size_t len, struct cmdline_param *p)
{
	size_t i = 0, equals = 0, end;
	bool in_quote = false, quoted = false;

	if (len > 0 && s[0] == '"') {
		s++;
		len--;
		in_quote = quoted = true;
	}
	for (; i < len; i++) {
		if (cmdline_is_space(s[i]) && !in_quote)
			break;
		if (equals == 0 && s[i] == '=')
			equals = i;
		if (s[i] == '"')
			in_quote = !in_quote;
	}
	end = i;
	if (quoted && end > 0 && s[end - 1] == '"')
		end--;
	p->name = s;
	p->has_eq = equals != 0;
	p->val.found = true;
	if (equals == 0) {
		p->name_len = end;
		p->val.ptr = s + end;
		p->val.len = 0;
	} else {
		const char *v = s + equals + 1;
		size_t vlen = end > equals ? end - equals - 1 : 0;

		p->name_len = equals;
		if (vlen > 0 && v[0] == '"') {
			v++;
			vlen--;
			/* The kernel strips the closing quote only at the very end. */
			if (vlen > 0 && v[vlen - 1] == '"' && !quoted)
				vlen--;
		}
		p->val.ptr = v;
		p->val.len = vlen;
	}
	/* Consumed: the optional opening quote and the characters scanned. */
	return (quoted ? 1 : 0) + i;
}

struct cmdline_value cmdline_find(const char *cmdline, size_t len, const char *key)
{
	struct cmdline_value found = { NULL, 0, false };
	size_t keylen = strlen(key), pos = 0;

	if (keylen > 0 && key[keylen - 1] == '=')
		keylen--; /* FLINT_CMDLINE_RUN spells the key with its '=' */
	/* A NUL ends the line: never read past what the kernel would. */
	len = strnlen(cmdline, len);
	while (pos < len) {
		struct cmdline_param p;

		if (cmdline_is_space(cmdline[pos])) {
			pos++;
			continue;
		}
		pos += cmdline_next(cmdline + pos, len - pos, &p);
		if (!p.has_eq && p.name_len == 2 && memcmp(p.name, "--", 2) == 0)
			break; /* the rest belongs to init's argv, not to the kernel */
		if (p.name_len == keylen && memcmp(p.name, key, keylen) == 0)
			found = p.val;
	}
	return found;
}

static int cmdline_b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Bytes that len unpadded base64 characters decode to (a trailing 1-char group is invalid). */
static size_t cmdline_b64_decoded_len(size_t len)
{
	return len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
}

ssize_t cmdline_b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
	size_t o = 0, i;
	unsigned acc = 0;
	int bits = 0;

	/* A single leftover character carries only 6 bits: no encoder produces it. */
	if (len % 4 == 1 || cmdline_b64_decoded_len(len) > cap)
		return -1;
	for (i = 0; i < len; i++) {
		int v = cmdline_b64_value(in[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Canonical encodings leave the unused low bits zero (RFC 4648 section 3.5). */
	if (acc != 0)
		return -1;
	return (ssize_t)o;
}

int cmdline_split_argv(char *buf, size_t len, char **argv, size_t max_args, const char **err)
{
	size_t argc = 0, start = 0, i;

	if (len == 0) {
		*err = "empty argv";
		return -1;
	}
	if (buf[len - 1] != '\0') {
		*err = "last argument is not NUL-terminated";
		return -1;
	}
	if (buf[0] == '\0') {
		*err = "empty program name";
		return -1;
	}
	for (i = 0; i < len; i++) {
		if (buf[i] != '\0')
			continue;
		if (argc == max_args) {
			*err = "too many arguments";
			return -1;
		}
		argv[argc++] = buf + start;
		start = i + 1;
	}
	argv[argc] = NULL;
	return (int)argc;
}

int cmdline_decode_run(const char *val, size_t len, char *buf, size_t cap, char **argv,
		       size_t max_args, const char **err)
{
	ssize_t n;

	if (cmdline_b64_decoded_len(len) > cap) {
		*err = "value too long";
		return -1;
	}
	n = cmdline_b64url_decode(val, len, (unsigned char *)buf, cap);
	if (n < 0) {
		*err = "not valid unpadded base64url";
		return -1;
	}
	return cmdline_split_argv(buf, (size_t)n, argv, max_args, err);
}

int cmdline_bool(struct cmdline_value v)
{
	static const char *const yes[] = { "", "1", "y", "yes", "on", "true" };
	static const char *const no[] = { "0", "n", "no", "off", "false" };
	size_t i;

	if (!v.found)
		return 0;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (strlen(yes[i]) == v.len && memcmp(yes[i], v.ptr, v.len) == 0)
			return 1;
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (strlen(no[i]) == v.len && memcmp(no[i], v.ptr, v.len) == 0)
			return 0;
	return -1;
}

bool cmdline_value_copy(struct cmdline_value v, char *dst, size_t cap)
{
	if (!v.found || v.len >= cap || memchr(v.ptr, '\0', v.len))
		return false;
	memcpy(dst, v.ptr, v.len);
	dst[v.len] = '\0';
	return true;
}

/* A dotted quad of decimal octets, nothing more: no octal, no hex, no shorthand forms. */
static int cmdline_ip4(const char *s, size_t len, uint32_t *out)
{
	uint32_t a = 0;
	unsigned octets = 0, digits = 0, v = 0;
	size_t i;

	for (i = 0; i <= len; i++) {
		if (i < len && s[i] >= '0' && s[i] <= '9') {
			v = v * 10 + (unsigned)(s[i] - '0');
			if (++digits > 3 || v > 255)
				return -1;
			continue;
		}
		if (digits == 0 || (i < len && s[i] != '.') || ++octets > 4)
			return -1;
		a = a << 8 | v;
		v = 0;
		digits = 0;
	}
	if (octets != 4)
		return -1;
	*out = a;
	return 0;
}

static int cmdline_uint(const char *s, size_t len, unsigned max, unsigned *out)
{
	unsigned v = 0;
	size_t i;

	if (len == 0 || len > 5)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

int cmdline_parse_net(const char *val, size_t len, struct cmdline_net *net, const char **err)
{
	const char *field[4];
	size_t flen[4], start = 0, i, n = 0;
	const char *slash;

	for (i = 0; i <= len; i++) {
		if (i < len && val[i] != ',')
			continue;
		if (n == 4) {
			*err = "more than four fields";
			return -1;
		}
		field[n] = val + start;
		flen[n++] = i - start;
		start = i + 1;
	}
	if (n != 4) {
		*err = "give ADDR/PREFIX,GATEWAY,DNS,MTU";
		return -1;
	}
	memset(net, 0, sizeof(*net));
	slash = memchr(field[0], '/', flen[0]);
	if (!slash || cmdline_ip4(field[0], (size_t)(slash - field[0]), &net->addr) != 0 ||
	    cmdline_uint(slash + 1, flen[0] - (size_t)(slash - field[0]) - 1, 32, &net->prefix) != 0 ||
	    net->prefix == 0 || net->addr == 0) {
		*err = "bad ADDR/PREFIX";
		return -1;
	}
	if ((flen[1] && cmdline_ip4(field[1], flen[1], &net->gateway) != 0) ||
	    (flen[2] && cmdline_ip4(field[2], flen[2], &net->dns) != 0)) {
		*err = "bad gateway or DNS address";
		return -1;
	}
	if (cmdline_uint(field[3], flen[3], 65535, &net->mtu) != 0 || net->mtu < 68) {
		*err = "bad MTU (68-65535)";
		return -1;
	}
	return 0;
}
