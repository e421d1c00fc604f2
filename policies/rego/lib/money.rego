# METADATA
# title: Money formatting of the quotaform rules
# description: >-
#   Writes USD amounts with two decimals. sprintf("%.2f") is not used, because
#   Rego engines differ on it for whole numbers.
package quotaform.lib

import rego.v1

# usd writes an amount such as 1121.28, 70.10 or -5.50.
usd(amount) := sprintf("%s%s.%s", [
	_sign(amount),
	format_int(_whole(amount), 10),
	_two_digits(_cents(amount) - (_whole(amount) * 100)),
])

# Whole dollars and cents are computed with floor and format_int rather than % and
# %d, which some engines reject for numbers that passed through float arithmetic.
_cents(amount) := round(abs(amount) * 100)

_whole(amount) := floor(_cents(amount) / 100)

_sign(amount) := "-" if amount < 0

default _sign(_) := ""

_two_digits(n) := concat("", ["0", format_int(n, 10)]) if n < 10

_two_digits(n) := format_int(n, 10) if n >= 10
