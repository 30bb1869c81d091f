#include "types/intfmt.h"

#include <string.h>

/* "00" "01" ... "99": two digits per division by 100. */
static const char digits2[200] = "00010203040506070809"
				 "10111213141516171819"
				 "20212223242526272829"
				 "30313233343536373839"
				 "40414243444546474849"
				 "50515253545556575859"
				 "60616263646566676869"
				 "70717273747576777879"
				 "80818283848586878889"
				 "90919293949596979899";

static const uint64_t pow10s[20] = {1u,
				    10u,
				    100u,
				    1000u,
				    10000u,
				    100000u,
				    1000000u,
				    10000000u,
				    100000000u,
				    1000000000u,
				    10000000000u,
				    100000000000u,
				    1000000000000u,
				    10000000000000u,
				    100000000000000u,
				    1000000000000000u,
				    10000000000000000u,
				    100000000000000000u,
				    1000000000000000000u,
				    10000000000000000000u};

/* Decimal digits of u (1 for 0): floor(log10) from the bit length
 * (1233 / 4096 is just under log10(2)), corrected by one comparison. */
static size_t ndigits(uint64_t u)
{
	uint64_t x = u | 1;
	unsigned t = (unsigned)(64 - __builtin_clzll(x)) * 1233u >> 12;
	return t + 1 - (x < pow10s[t]);
}

size_t fmt_int64(char *buf, size_t cap, int64_t v)
{
	/* The magnitude in unsigned arithmetic: -INT64_MIN overflows int64_t. */
	uint64_t u = v < 0 ? 0u - (uint64_t)v : (uint64_t)v;
	size_t n = (v < 0) + ndigits(u);
	if (n > cap)
		return n;
	char *p = buf + n;
	while (u >= 100) {
		unsigned r = (unsigned)(u % 100);
		u /= 100;
		p -= 2;
		memcpy(p, digits2 + 2 * r, 2);
	}
	if (u >= 10) {
		p -= 2;
		memcpy(p, digits2 + 2 * u, 2);
	} else {
		*--p = (char)('0' + u);
	}
	if (v < 0)
		*--p = '-';
	return n;
}
