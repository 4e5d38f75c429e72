"""Custom schemathesis check for scripts/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

`no_damaged_rows`: a list that shows a stored row as damaged (`{"id", "damaged": true,
"problem"}`, see docs/api.md) means some write stored a value the service cannot read back —
exactly the fault class of issue 22, item 3 (an e-mail that passed the length check typed
and failed it lower-cased). The service survives it (the list still answers), so the status
and schema checks cannot see it; this check does.
"""

import schemathesis


def _damaged(value):
    if isinstance(value, dict):
        if value.get("damaged") is True:
            return value
        return next((d for d in map(_damaged, value.values()) if d is not None), None)
    if isinstance(value, list):
        return next((d for d in map(_damaged, value) if d is not None), None)
    return None


@schemathesis.check
def no_damaged_rows(ctx, response, case):
    """Fail when an answer lists a stored row that no longer decodes."""
    if not response.headers.get("content-type", [""])[0].startswith("application/json"):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    damaged = _damaged(body)
    if damaged is not None:
        raise AssertionError(
            f"A stored row no longer decodes: {damaged.get('problem')} (row {damaged.get('id')}); "
            "an earlier request stored a value the service cannot read back"
        )
    return None


# What `str::trim` strips (Unicode White_Space), as the OpenAPI document's patterns say it.
_WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
# The server's e-mail limit, in UTF-8 bytes (`slugbase_domain::email::MAX_EMAIL_LENGTH`).
_MAX_EMAIL_BYTES = 254


def _at_the_byte_limit(email):
    """`email` with its local part padded so that, trimmed, it is exactly 254 bytes as sent."""
    core = email.strip(_WHITESPACE)
    missing = _MAX_EMAIL_BYTES - len(core.encode("utf-8"))
    if missing <= 0 or "@" not in email:
        return None
    return email.replace("@", "a" * missing + "@", 1)


@schemathesis.hook
def flatmap_body(context, body):
    """Boundary values JSON Schema cannot express: the e-mail limit is in bytes (of the
    normalised address), `maxLength` counts characters, so no generator aims at it. Besides
    each generated body, Hypothesis may also pick the same body with the address padded to
    exactly 254 bytes as sent — whatever the generated address holds (upper-case letters
    whose lower case is longer, such as `Ⱥ` or `İ`, …) then decides whether it still fits
    once normalised, and a store that checked the typed form would keep what it cannot
    read back."""
    from hypothesis import strategies as st

    operation = context.operation
    if operation is None or (operation.method.upper(), operation.path) != ("POST", "/api/admin/users"):
        return st.just(body)
    if not isinstance(body, dict) or not isinstance(body.get("email"), str):
        return st.just(body)
    padded = _at_the_byte_limit(body["email"])
    if padded is None:
        return st.just(body)
    return st.sampled_from([body, {**body, "email": padded}])
