"""Qualify: which CRM record a mail is logged on, by vtiger 5.1's precedence rules.

This module only ranks: the Odoo layer finds the candidates (with the qualifying user's
rights, archived records left out) and passes them in; :func:`rank` returns a
:class:`Decision`. Nothing here touches a database, so every rule is tested in plain pytest.

The rules, in the order they are tried (:data:`PRECEDENCE`):

1. A **lead** with the mail's address wins over any contact. A lead that was converted (Odoo
   keeps it as the same ``crm.lead``, now an opportunity and often linked to a new contact)
   is still that lead, and keeps winning over the contact it produced. Among several leads,
   the first created wins.
2. Otherwise the first created **contact** with the address wins.
3. Otherwise a **new contact** is created for the sender.

"First created" is the lowest creation date, then the lowest id (:func:`creation_key`).
Addresses are compared normalised, as Odoo's ``email_normalized`` columns hold them: display name
ignored, lower case (but a non-ASCII local part), see :func:`.addresses.normalize`.
A candidate that is not active counts as deleted.

Which address: the sender's (vtiger qualified by sender only), except for a mail sent by the
user themselves, where the sender is the user: then the first recipient that is not the user
is used (:func:`counterpart`).

Beyond vtiger, and never instead of its default: when nothing matches the address, the
company whose contacts write from the address's domain is offered as a second choice
(:func:`pick_company`; never for a public domain such as gmail.com, :func:`company_domain`).
"""

import datetime
import re
from dataclasses import dataclass, field

from . import addresses

#: Candidate kinds, in no particular order (the order is :data:`PRECEDENCE`).
LEAD = "lead"
CONTACT = "contact"

#: Rule codes a :class:`Decision` carries. They are stable: the API returns them.
RULE_LEAD = "lead"  # a lead has the address, no contact does
RULE_LEAD_OVER_CONTACT = "lead_over_contact"  # a lead wins over a contact with the address
RULE_CONVERTED_LEAD = "converted_lead_over_contact"  # a converted lead wins over a contact
RULE_CONTACT = "contact"  # no lead: the first created contact
RULE_CREATE_CONTACT = "create_contact"  # nothing matches: a contact is created
#: Rule codes of the choices made beside the rules (kept with the mail, returned by the API).
RULE_CHOSEN = "chosen"  # the user picked the record (the preview, action_qualify_on)
RULE_THREAD = "thread"  # the user took the record of the mail it answers (one click, preview)
RULE_FOLLOW_UP = "follow_up"  # logged automatically: it answers a mail qualified there
RULE_CONVERSATION = "conversation"  # Qualify on a whole conversation
RULE_COMPANY = "company"  # the company of the address's domain (nothing matched the address)
RULE_CREATE_LEAD = "create_lead"  # "Create a lead instead"

#: How the address was chosen (:attr:`Party.basis`).
BASIS_SENDER = "sender"
BASIS_RECIPIENT = "recipient"

_NEVER = datetime.datetime.max
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")

#: Domains of public mail providers: their users share nothing but the provider, so no company
#: is offered for them (:func:`company_domain`). The largest providers of each region; the Odoo
#: layer adds the administrator's own list (system parameter ``vt_webmail.public_mail_domains``).
_PUBLIC_MAIL_DOMAINS = """
    gmail.com googlemail.com yahoo.com yahoo.co.uk yahoo.fr yahoo.de yahoo.es yahoo.it
    yahoo.co.jp yahoo.com.br ymail.com rocketmail.com hotmail.com hotmail.co.uk hotmail.fr
    hotmail.de hotmail.es hotmail.it hotmail.be outlook.com outlook.fr outlook.de outlook.es
    live.com live.fr live.co.uk live.be live.nl msn.com passport.com aol.com aim.com
    icloud.com me.com mac.com mail.com email.com gmx.com gmx.de gmx.net gmx.at gmx.ch gmx.fr
    web.de t-online.de freenet.de arcor.de posteo.de mailbox.org protonmail.com proton.me
    pm.me tutanota.com tuta.io zoho.com zohomail.com yandex.com yandex.ru ya.ru mail.ru
    inbox.ru list.ru bk.ru rambler.ru qq.com 163.com 126.com yeah.net sina.com sohu.com
    foxmail.com aliyun.com naver.com daum.net hanmail.net orange.fr wanadoo.fr free.fr sfr.fr
    laposte.net neuf.fr bbox.fr libero.it virgilio.it tiscali.it alice.it tin.it
    telenet.be skynet.be proximus.be bluewin.ch hispeed.ch seznam.cz centrum.cz wp.pl o2.pl
    onet.pl interia.pl btinternet.com sky.com virginmedia.com talktalk.net ntlworld.com
    comcast.net verizon.net att.net sbcglobal.net bellsouth.net cox.net charter.net
    earthlink.net juno.com rediffmail.com uol.com.br bol.com.br terra.com.br
    bigpond.com optusnet.com.au xtra.co.nz shaw.ca rogers.com sympatico.ca videotron.ca
"""
PUBLIC_MAIL_DOMAINS = frozenset(_PUBLIC_MAIL_DOMAINS.split())


@dataclass(frozen=True)
class Rule:
    """One step of the precedence: the kind of record it picks from (``None``: create one)."""

    code: str
    kind: str | None
    description: str


#: vtiger's precedence, tried in order; the first rule with a candidate decides.
PRECEDENCE = (
    Rule(RULE_LEAD, LEAD,
         "A lead with the address wins over any contact, converted leads included; among "
         "several leads the first created wins."),
    Rule(RULE_CONTACT, CONTACT,
         "Otherwise the first created contact with the address wins."),
    Rule(RULE_CREATE_CONTACT, None,
         "Otherwise a contact is created for the sender and the mail is logged on it."),
)


@dataclass(frozen=True)
class Party:
    """The person a mail is qualified by: display name (or the address), and address.

    ``basis`` says whether it is the mail's sender or, for a mail the user sent, its first
    recipient.
    """

    name: str
    address: str
    basis: str = BASIS_SENDER


@dataclass(frozen=True)
class Candidate:
    """A record that may receive the mail.

    :param kind: :data:`LEAD` or :data:`CONTACT`
    :param id: the record's id
    :param name: what the user calls it (for explanations)
    :param email: the record's address, as stored (compared normalised)
    :param create_date: naive or aware datetime, all candidates alike; ``None`` sorts last
    :param active: ``False`` for an archived record, which counts as deleted
    :param converted: a lead that is an opportunity now, or is linked to a contact
    :param partner_id: a lead's contact (the one it was converted into), if any
    """

    kind: str
    id: int
    name: str = ""
    email: str = ""
    create_date: datetime.datetime | None = None
    active: bool = True
    converted: bool = False
    partner_id: int | None = None


@dataclass(frozen=True)
class Decision:
    """What :func:`rank` decided.

    :ivar target: the winning :class:`Candidate`, or ``None`` when a contact must be created
    :ivar rule: one of the ``RULE_*`` codes
    :ivar facts: what an explanation needs: ``address``, ``target_name``, ``leads`` and
        ``contacts`` (how many of each matched), ``first_of`` (how many of the winner's kind
        matched, so ``> 1`` means "the first created of them"), ``contact_name`` and
        ``contact_is_own`` (the first matching contact a lead won over, and whether it is the
        contact that lead was converted into)
    :ivar alternatives: the other matching candidates, in precedence order
    """

    target: Candidate | None
    rule: str
    facts: dict = field(default_factory=dict)
    alternatives: tuple = ()

    @property
    def creates_contact(self):
        return self.target is None


def parse_party(text, basis=BASIS_SENDER):
    """The first person in an address header: its display name (else its address), address.

    :returns: :class:`Party`, or ``None`` when ``text`` has no address
    """
    return next(_parties(text, basis), None)


def _parties(text, basis):
    """The :class:`Party` of each address of a header, in order."""
    for name, address in addresses.parse(str(text or "")):
        # the display name, else the address as written; compared normalised
        yield Party(name=name or address, address=addresses.normalize_address(address),
                    basis=basis)


def counterpart(email_from, email_to="", email_cc="", own_addresses=()):
    """The party a mail is qualified by.

    vtiger qualified a mail by its sender. A mail the user sent themselves (its sender is one
    of ``own_addresses``) would then land on the user's own contact, so its first recipient
    that is not the user is used instead (To, then Cc). A mail from the user to nobody else
    keeps the sender.

    :param own_addresses: the user's addresses (compared normalised)
    :returns: :class:`Party`, or ``None`` when the mail has no usable address
    """
    sender = parse_party(email_from)
    own = {addresses.normalize(a) for a in own_addresses} - {""}
    if sender is None or sender.address not in own:
        return sender
    for header in (email_to, email_cc):
        for party in _parties(header, BASIS_RECIPIENT):
            if party.address not in own:
                return party
    return sender


def creation_key(candidate):
    """Sort key for "first created": creation date, then id (``None`` dates last)."""
    date = candidate.create_date
    if date is None:
        date = _NEVER
    elif date.tzinfo is not None:
        date = date.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return (date, candidate.id)


def rank(address, candidates):
    """Apply :data:`PRECEDENCE` to the candidates for ``address``.

    Candidates whose address does not match (normalised), inactive ones, and duplicates
    (same kind and id) are ignored, so the caller may pass a generous list.

    :param address: the party's address (any case, display name allowed)
    :param candidates: iterable of :class:`Candidate`
    :returns: :class:`Decision`
    """
    wanted = addresses.normalize(address)
    seen = set()
    pools = {LEAD: [], CONTACT: []}
    for candidate in candidates:
        key = (candidate.kind, candidate.id)
        if key in seen or candidate.kind not in pools or not candidate.active:
            continue
        if not wanted or addresses.normalize(candidate.email) != wanted:
            continue
        seen.add(key)
        pools[candidate.kind].append(candidate)
    for pool in pools.values():
        pool.sort(key=creation_key)
    ordered = [c for rule in PRECEDENCE if rule.kind for c in pools[rule.kind]]
    facts = {
        "address": wanted,
        "leads": len(pools[LEAD]),
        "contacts": len(pools[CONTACT]),
        "target_name": "",
        "first_of": 0,
        "contact_name": "",
        "contact_is_own": False,
    }
    for rule in PRECEDENCE:
        if rule.kind is None:
            return Decision(target=None, rule=RULE_CREATE_CONTACT, facts=facts,
                            alternatives=tuple(ordered))
        pool = pools[rule.kind]
        if not pool:
            continue
        winner = pool[0]
        facts.update(target_name=winner.name, first_of=len(pool))
        code = rule.code
        if rule.kind == LEAD and pools[CONTACT]:
            # the contact the lead beats: preferably the one it was converted into
            own = [c for c in pools[CONTACT] if winner.partner_id and c.id == winner.partner_id]
            beaten = (own or pools[CONTACT])[0]
            facts.update(contact_name=beaten.name, contact_is_own=bool(own))
            code = RULE_CONVERTED_LEAD if winner.converted else RULE_LEAD_OVER_CONTACT
        return Decision(target=winner, rule=code, facts=facts,
                        alternatives=tuple(c for c in ordered if c is not winner))
    raise AssertionError("PRECEDENCE ends with the rule that creates a contact")


def thread_references(in_reply_to="", references=""):
    """The Message-Ids a mail answers, nearest first: In-Reply-To, then References from the
    last (the parent) to the first (the thread's start), without duplicates.

    :returns: list of ``"<id@host>"`` strings
    """
    result = []
    nearest = _MESSAGE_ID.findall(in_reply_to or "")
    thread = _MESSAGE_ID.findall(references or "")
    for token in nearest + thread[::-1]:
        if token not in result:
            result.append(token)
    return result


def company_domain(address, public_domains=()):
    """The domain a company could be recognised by in ``address``: its part after the ``@``,
    lower case, unless it is a public mail provider's (:data:`PUBLIC_MAIL_DOMAINS`, or one of
    ``public_domains``), whose users share nothing but the provider.

    :returns: the domain, or ``""`` (no address, or a public domain)
    """
    address = addresses.normalize(address)
    domain = address.rpartition("@")[2] if "@" in address else ""
    public = PUBLIC_MAIL_DOMAINS | {d.strip().lower() for d in public_domains if d.strip()}
    if not domain or domain in public:
        return ""
    return domain


@dataclass(frozen=True)
class CompanyContact:
    """A record with an address at the domain, and the company it belongs to.

    :param company_id: the company (a contact that is a company: itself)
    :param company_name: what the user calls the company
    :param company_create_date: when the company was created (``None`` sorts last)
    :param email: the record's address, as stored (compared by domain)
    """

    company_id: int
    company_name: str = ""
    company_create_date: datetime.datetime | None = None
    email: str = ""


@dataclass(frozen=True)
class CompanyChoice:
    """What :func:`pick_company` found: the company, and how many of the contacts given write
    from the domain (the company's own address included)."""

    company_id: int
    name: str
    contacts: int


def pick_company(domain, contacts):
    """The company whose contacts write from ``domain``: the one with the most of them, then
    the first created, then the lowest id.

    :param domain: as :func:`company_domain` returns it (``""``: no company)
    :param contacts: iterable of :class:`CompanyContact`; those at another domain are ignored
    :returns: :class:`CompanyChoice`, or ``None``
    """
    if not domain:
        return None
    counts, firsts = {}, {}
    for contact in contacts:
        if addresses.normalize(contact.email).rpartition("@")[2] != domain:
            continue
        counts[contact.company_id] = counts.get(contact.company_id, 0) + 1
        firsts.setdefault(contact.company_id, contact)
    if not counts:
        return None

    def key(company_id):
        first = firsts[company_id]
        created = Candidate(CONTACT, company_id, create_date=first.company_create_date)
        return (-counts[company_id], creation_key(created))

    winner = min(counts, key=key)
    return CompanyChoice(winner, firsts[winner].company_name, counts[winner])
