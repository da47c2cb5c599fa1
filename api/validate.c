/* Validators and small formatters for values that arrive from HTTP clients: bounded, no allocation. */
#include "validate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static bool is_alnum(char c)
{
	/* Not isalnum(): that depends on the locale, and these rules are ASCII. */
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool valid_sandbox_name(const char *s)
{
	if (!s)
		return false;
	size_t n = strnlen(s, SANDBOX_NAME_MAX + 1);
	if (n == 0 || n > SANDBOX_NAME_MAX || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (is_alnum(c))
			continue;
		if (c != '-' && c != '_')
			return false;
		/* Two separators in a row, of any kind; the last char is alnum so s[i+1] exists. */
		if (s[i + 1] == '-' || s[i + 1] == '_')
			return false;
	}
	return true;
}

bool valid_image_name(const char *s)
{
	if (!s)
		return false;
	size_t n = strnlen(s, IMAGE_NAME_MAX + 1);
	if (n == 0 || n > IMAGE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && !strchr("._/:@-", s[i]))
			return false;
	return true;
}

bool valid_workdir(const char *s)
{
	if (!s || s[0] != '/')
		return false;
	size_t n = strnlen(s, WORKDIR_MAX + 1);
	if (n > WORKDIR_MAX)
		return false;
	for (const char *seg = s; *seg;) {
		while (*seg == '/')
			seg++;
		size_t len = strcspn(seg, "/");
		if (len == 2 && seg[0] == '.' && seg[1] == '.')
			return false;
		seg += len;
	}
	return true;
}

bool valid_uuid(const char *s)
{
	if (!s || strnlen(s, 37) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : hex_val(s[i]) < 0)
			return false;
	}
	return true;
}

bool valid_job_id(const char *s)
{
	if (!s || strnlen(s, 9) != 8)
		return false;
	for (int i = 0; i < 8; i++)
		if (!is_digit(s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return false;
	return true;
}

int duration_parse(const char *s, uint64_t *seconds)
{
	static const char units[] = "smhd";
	static const uint64_t mult[] = { 1, 60, 3600, 86400 };
	unsigned seen = 0;
	uint64_t total = 0;
	if (!s || !*s)
		return -EINVAL;
	while (*s) {
		uint64_t v = 0;
		if (!is_digit(*s))
			return -EINVAL;
		/* Stop accumulating past the cap: anything that big is refused, and v cannot overflow. */
		for (; is_digit(*s); s++)
			if (v <= DURATION_MAX_S)
				v = v * 10 + (uint64_t)(*s - '0');
		const char *u = *s ? strchr(units, *s) : NULL;
		if (!u)
			return -EINVAL; /* bare number or unknown unit */
		unsigned idx = (unsigned)(u - units);
		if (seen & (1u << idx))
			return -EINVAL; /* "1h1h" is a typo, not 2h */
		seen |= 1u << idx;
		s++;
		if (v > DURATION_MAX_S / mult[idx])
			return -EINVAL;
		total += v * mult[idx]; /* each term ≤ cap, at most four terms: no overflow */
		if (total > DURATION_MAX_S)
			return -EINVAL;
	}
	if (total == 0)
		return -EINVAL;
	*seconds = total;
	return 0;
}

static bool label_key_ok(const char *k, size_t n)
{
	if (n == 0 || n > LABEL_KEY_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(k[i]) && !strchr("._/-", k[i]))
			return false;
	return true;
}

static bool label_val_ok(const char *v, size_t n)
{
	if (n > LABEL_VAL_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (v[i] < 0x20 || v[i] > 0x7e)
			return false;
	return true;
}

int label_filter_parse(const char *s, char *key, size_t kcap, char *val, size_t vcap)
{
	if (!s || !key || !val)
		return -EINVAL;
	const char *colon = strchr(s, ':');
	if (!colon)
		return -EINVAL;
	size_t kn = (size_t)(colon - s);
	size_t vn = strnlen(colon + 1, LABEL_VAL_MAX + 1);
	if (!label_key_ok(s, kn) || !label_val_ok(colon + 1, vn) || kn >= kcap || vn >= vcap)
		return -EINVAL;
	memcpy(key, s, kn);
	key[kn] = '\0';
	memcpy(val, colon + 1, vn);
	val[vn] = '\0';
	return 0;
}

bool valid_label(const char *key, const char *val)
{
	if (!key || !val)
		return false;
	size_t vn = strnlen(val, LABEL_VAL_MAX + 1);
	return label_key_ok(key, strnlen(key, LABEL_KEY_MAX + 1)) && label_val_ok(val, vn);
}

/* Decimal digits [s, end) as an unsigned value ≤ max with 1..maxdigits digits and no leading zero. */
bool parse_uint(const char *s, const char *end, unsigned max, unsigned maxdigits, unsigned *out)
{
	size_t n = (size_t)(end - s);
	unsigned v = 0;
	if (n == 0 || n > maxdigits || (n > 1 && s[0] == '0'))
		return false;
	for (const char *p = s; p < end; p++) {
		if (!is_digit(*p))
			return false;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

static bool parse_port(const char *s, const char *end, uint16_t *out)
{
	unsigned v;
	if (!parse_uint(s, end, 65535, 5, &v) || v == 0)
		return false;
	*out = (uint16_t)v;
	return true;
}

bool parse_ipv4(const char *s, const char *end)
{
	const char *p = s;
	for (int i = 0; i < 4; i++) {
		const char *dot = p;
		while (dot < end && *dot != '.')
			dot++;
		unsigned v;
		if (!parse_uint(p, dot, 255, 3, &v))
			return false;
		if (i < 3 && dot == end)
			return false;
		if (i == 3 && dot != end)
			return false;
		p = dot + 1;
	}
	return true;
}

int port_map_parse(const char *s, struct port_map *pm)
{
	if (!s || !pm)
		return -EINVAL;
	/* Longest valid form: "255.255.255.255:65535:65535/tcp" (31 bytes). */
	size_t n = strnlen(s, 64);
	if (n >= 64)
		return -EINVAL;
	const char *end = s + n;
	const char *slash = memchr(s, '/', n);
	if (slash) {
		if (strcmp(slash, "/tcp") != 0)
			return -EINVAL;
		end = slash;
	}
	const char *c2 = NULL, *c1 = NULL; /* last and second-to-last ':' */
	int ncolon = 0;
	for (const char *p = s; p < end; p++)
		if (*p == ':') {
			ncolon++;
			c1 = c2;
			c2 = p;
		}
	struct port_map out = { .host_addr = "" };
	if (ncolon == 1) {
		if (!parse_port(s, c2, &out.host_port))
			return -EINVAL;
	} else if (ncolon == 2) {
		if (!parse_ipv4(s, c1) || !parse_port(c1 + 1, c2, &out.host_port))
			return -EINVAL;
		memcpy(out.host_addr, s, (size_t)(c1 - s)); /* ≤ 15 bytes: checked by parse_ipv4 */
	} else {
		return -EINVAL;
	}
	if (!parse_port(c2 + 1, end, &out.guest_port))
		return -EINVAL;
	*pm = out;
	return 0;
}

void uuid_generate_v4(char out[37])
{
	uint8_t b[16];
	size_t got = 0;
	while (got < sizeof(b)) {
		ssize_t r = getrandom(b + got, sizeof(b) - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			abort(); /* a guessable id would be worse than stopping */
		got += (size_t)r;
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	static const char hex[] = "0123456789abcdef";
	char *o = out;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*o++ = '-';
		*o++ = hex[b[i] >> 4];
		*o++ = hex[b[i] & 15];
	}
	*o = '\0';
}

void job_id_format(uint32_t v, char out[9])
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 7; i >= 0; i--, v >>= 4)
		out[i] = hex[v & 15];
	out[8] = '\0';
}

void rfc3339_utc(int64_t unix_seconds, char out[32])
{
	/* Clamp to years 1970..9999 so the text always has the fixed shape; no gmtime_r: time_t range
	 * and locale play no part, and this is pure arithmetic (civil-from-days, H. Hinnant). */
	const int64_t max = 253402300799; /* 9999-12-31T23:59:59Z */
	int64_t t = unix_seconds < 0 ? 0 : unix_seconds > max ? max : unix_seconds;
	int64_t days = t / 86400, sod = t % 86400;
	int64_t z = days + 719468;
	int64_t era = z / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = yoe + era * 400;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;
	if (m <= 2)
		y++;
	/* Fixed-width digits by hand: every field is in range here, and the shape is always 20 bytes. */
	const unsigned f[6] = { (unsigned)y, (unsigned)m, (unsigned)d, (unsigned)(sod / 3600),
				(unsigned)(sod / 60 % 60), (unsigned)(sod % 60) };
	static const char tmpl[] = "0000-00-00T00:00:00Z";
	static const unsigned pos[6] = { 0, 5, 8, 11, 14, 17 }, width[6] = { 4, 2, 2, 2, 2, 2 };
	memcpy(out, tmpl, sizeof(tmpl));
	for (int i = 0; i < 6; i++) {
		unsigned v = f[i];
		for (unsigned k = width[i]; k-- > 0; v /= 10)
			out[pos[i] + k] = (char)('0' + v % 10);
	}
}
