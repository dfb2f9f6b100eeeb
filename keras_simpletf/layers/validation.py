"""Argument checks shared by the layers, so every bad value fails the same clear way."""


def check_choice(name, value, allowed):
    """Raises a `ValueError` naming `name` unless `value` is one of `allowed`."""
    if value not in allowed:
        raise ValueError(
            f"`{name}` must be one of {list(allowed)}, got {value!r}."
        )
    return value


def check_positive_int(name, value, allow_none=False):
    """Raises a `ValueError` naming `name` unless `value` is an int >= 1."""
    if value is None and allow_none:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return value


def check_rate(name, value):
    """Raises a `ValueError` naming `name` unless 0 <= `value` < 1."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f"`{name}` must be in [0, 1), got {value!r}.")
    return value


def check_divides(divisor_name, divisor, dividend_name, dividend):
    """Raises a `ValueError` unless `divisor` divides `dividend` exactly."""
    if dividend % divisor:
        raise ValueError(
            f"`{divisor_name}`={divisor} must divide {dividend_name}={dividend}; "
            f"allowed values are the divisors of {dividend}: "
            f"{[d for d in range(1, dividend + 1) if dividend % d == 0]}."
        )
