"""A search of the message list, run on the IMAP server: a domain into IMAP SEARCH criteria.

The Webmail list searches its cache with an Odoo domain (``[("subject", "ilike", "invoice"),
("is_seen", "=", False)]``). The cache knows only the headers of the synced folders; the server
also searches bodies and folders that are not synced. :func:`imap_criteria` turns the domain
into the criteria of ``UID SEARCH`` (imapclient's nested lists) and says which conditions the
server could not test exactly, so that the caller applies those to what the server found.

The translation never loses a mail the domain matches. Each condition becomes one of:

* **exact**: the server's answer is the one wanted. ``ilike`` on the subject and addresses
  (IMAP's SUBJECT, FROM, TO, CC are case-insensitive substring searches, as ``ilike`` is),
  ``not ilike`` (their negation), read / flagged / answered (\\Seen, \\Flagged, \\Answered);
  and the "Text" field (``search_text``), which becomes TEXT: on the server it also searches
  bodies, which is why one searches there.
* **wider**: the server finds at least the mails wanted, and maybe more. ``like`` (IMAP does
  not tell case), ``=`` (IMAP finds a substring), a text cut at :data:`MAX_TEXT` characters,
  dates (SENTSINCE and SENTBEFORE compare whole days of the Date header, in the sender's time
  zone: a day is added on each side): the condition also goes into ``residual``, for the
  cache.
* **untranslatable**: anything else (another field, another operator, a malformed condition):
  no criterion, and the condition goes into ``residual``.

Under ``|`` a wider side keeps the ``OR`` wider, an untranslatable side makes all of it
untranslatable; under ``!`` only an exact child can be negated (the negation of a wider search
would be narrower, and lose mails). Only the conditions joined by the domain's top-level AND
can be refined in ``residual``: an ``|`` or ``!`` there that is not exact goes into it whole.

Nothing here knows the ORM: a domain is a list in Odoo's prefix notation, its conditions
``(field name, operator, value)`` triples named after ``vt_webmail.message``'s fields.
"""

import datetime

#: Text fields searched on the server, and their IMAP SEARCH keys.
TEXT_KEYS = {"subject": "SUBJECT", "email_from": "FROM", "email_to": "TO",
             "email_cc": "CC", "search_text": "TEXT"}
#: Flag fields searched on the server: (key when true, key when false).
FLAG_KEYS = {"is_seen": ("SEEN", "UNSEEN"), "is_flagged": ("FLAGGED", "UNFLAGGED"),
             "is_answered": ("ANSWERED", "UNANSWERED")}
#: Date fields, searched by the day of the Date header (SENTSINCE / SENTBEFORE).
DATE_FIELDS = frozenset({"date"})
#: Longest text sent in a criterion (longer is cut: a wider search).
MAX_TEXT = 200
#: Tokens a domain may hold (the parse is recursive, and a domain comes over RPC).
MAX_TOKENS = 200

EXACT, WIDER, NONE = "exact", "wider", "none"
ONE_DAY = datetime.timedelta(days=1)

_OPERATORS = {"!": 1, "&": 2, "|": 2}


def imap_criteria(domain):
    """Translate a domain of the message list into IMAP SEARCH criteria.

    :param domain: an Odoo domain (prefix notation, implicit AND), as a list
    :returns: ``(criteria, residual)``: ``criteria`` select on the server a superset of the
        mails the domain matches (``[]``: every mail); ``residual`` is a domain (implicit AND
        of conditions and subtrees of ``domain``) to apply to what the server found, so that
        criteria and residual together match exactly what ``domain`` does
    :raises ValueError: a domain that is not one (unbalanced operators), or longer than
        :data:`MAX_TOKENS`
    """
    tokens = normalize(domain)
    if not tokens:
        return [], []
    residual = []
    tree, _end = _parse(tokens, 0)
    criteria, _kind = _convert(tree, tokens, residual, top=True)
    return criteria or [], residual


def normalize(domain):
    """``domain`` with its implicit ANDs written out (as Odoo's ``normalize_domain``; an empty
    domain gives ``[]``).

    :raises ValueError: a domain whose operators do not match their operands, or longer than
        :data:`MAX_TOKENS`
    """
    domain = list(domain or [])
    if len(domain) > MAX_TOKENS:
        raise ValueError(f"a search of more than {MAX_TOKENS} terms")
    result, expected = [], 1
    for token in domain:
        if expected == 0:
            result.insert(0, "&")
            expected = 1
        if isinstance(token, (list, tuple)):
            expected -= 1
            token = tuple(token)
        elif isinstance(token, str) and token in _OPERATORS:
            expected += _OPERATORS[token] - 1
        else:
            raise ValueError(f"not a search term: {token!r}")
        result.append(token)
    if domain and expected:
        raise ValueError("the search's operators do not match its terms")
    return result


def leaf_criteria(leaf):
    """``(criteria or None, kind)`` for one condition: kind :data:`EXACT`, :data:`WIDER` or
    :data:`NONE` (see the module docstring)."""
    if len(leaf) != 3 or not isinstance(leaf[0], str) or not isinstance(leaf[1], str):
        return None, NONE
    name, operator, value = leaf
    if name in TEXT_KEYS and isinstance(value, str):
        # no control characters reach the command line
        text = "".join(ch for ch in value if ch >= " " and ch != "\x7f")
        cut = len(text) > MAX_TEXT
        text = text[:MAX_TEXT].strip()
        if not text:
            return None, NONE
        key = TEXT_KEYS[name]
        if operator == "ilike":
            return [key, text], WIDER if cut else EXACT
        if operator in ("like", "=", "=ilike", "=like"):
            return [key, text], WIDER
        if operator == "not ilike" and not cut:
            return ["NOT", [key, text]], EXACT
        return None, NONE
    if name in FLAG_KEYS and operator in ("=", "!=") and isinstance(value, bool):
        wanted = value if operator == "=" else not value
        return [FLAG_KEYS[name][0 if wanted else 1]], EXACT
    if name in DATE_FIELDS and operator in (">=", ">", "<=", "<"):
        day = _day(value)
        if day is None:
            return None, NONE
        # the day of the Date header, in the sender's time zone, is at most a day off the
        # day of the UTC time the field holds (zones run from -12:00 to +14:00)
        if operator in (">=", ">"):
            return ["SENTSINCE", day - ONE_DAY], WIDER
        return ["SENTBEFORE", day + 2 * ONE_DAY], WIDER
    return None, NONE


def _day(value):
    """The day of a date condition's value (a date, a datetime, or Odoo's text form)."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def _parse(tokens, position):
    """``(node, next position)``: a node is ``("leaf", leaf, start, end)`` or
    ``(operator, children, start, end)``, with its span in ``tokens``."""
    token = tokens[position]
    if isinstance(token, str):  # an operator (normalize let nothing else through)
        children, end = [], position + 1
        for _ in range(_OPERATORS[token]):
            child, end = _parse(tokens, end)
            children.append(child)
        return (token, children, position, end), end
    return ("leaf", token, position, position + 1), position + 1


def _convert(node, tokens, residual, *, top):
    """``(criteria or None, kind)`` of a node; at the top level (joined by AND to the root),
    what is not exact is added to ``residual``."""
    kind = node[0]
    if kind == "leaf":
        criteria, result = leaf_criteria(node[1])
    elif kind == "&":
        parts = [_convert(child, tokens, residual, top=top) for child in node[1]]
        if top:
            # each side went into the residual itself if it had to
            criteria = [item for part, _kind in parts if part for item in part]
            return criteria or None, EXACT
        found = [part for part, _kind in parts if part]
        criteria = [item for part in found for item in part] or None
        result = EXACT if all(k == EXACT for _part, k in parts) else (
            WIDER if criteria else NONE)
    elif kind == "|":
        parts = [_convert(child, tokens, residual, top=False) for child in node[1]]
        if any(part is None for part, _kind in parts):
            criteria, result = None, NONE
        else:
            criteria = ["OR", parts[0][0], parts[1][0]]
            result = EXACT if all(k == EXACT for _part, k in parts) else WIDER
    else:  # "!"
        child, child_kind = _convert(node[1][0], tokens, residual, top=False)
        if child_kind == EXACT:
            criteria, result = ["NOT", child], EXACT
        else:
            criteria, result = None, NONE
    if top and result != EXACT:
        residual.extend(tokens[node[2]:node[3]])
    return criteria, result
