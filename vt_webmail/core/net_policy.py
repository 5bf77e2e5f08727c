"""Which hosts and ports the Odoo server may open connections to for a user's mail.

Every internal user chooses the IMAP and SMTP servers of their own accounts. Without a rule,
that makes the Odoo server a port scanner any user can drive (is PostgreSQL listening on
127.0.0.1:5432? is there an SMTP relay on 10.0.0.5?), and an SMTP client to any internal host.
A :class:`Policy` says what is allowed:

* no rule (the default): any *public* address (not loopback, link-local, private, unique-local,
  shared, multicast or reserved) on the usual mail ports, 143, 993, 25, 465 and 587 (the
  caller may give other default ports, e.g. 443 for OAuth token endpoints);
* otherwise only what a rule allows; rules are comma-separated:

  ==========================  ========================================================
  ``mail.example.com``        that host name, any port (``mail.example.com:993``: that port)
  ``*.example.com``           any host name under example.com (not example.com itself)
  ``10.1.2.3``, ``[::1]:993`` that address (IPv6 with a port in brackets)
  ``10.0.0.0/8``              any address of that network (``10.0.0.0/8:143``: that port)
  ``public``                  what the default allows (to add to it: ``public, 10.1.2.3``)
  ==========================  ========================================================

The check is made on the addresses the host name resolves to, and the connection is then
made to one of those very addresses (:meth:`Policy.resolve`; the caller connects to them and
verifies the certificate against the host name): a DNS answer that changes between the check
and the connection (DNS rebinding) cannot get round it. A refused host gets one message,
:class:`~.exceptions.HostRefused`, whatever is or is not listening there, and nothing is
connected to at all.
"""

import ipaddress
import socket
from dataclasses import dataclass

from . import exceptions

#: The default policy's ports: IMAP, IMAPS, SMTP, SMTPS, submission.
MAIL_PORTS = frozenset({143, 993, 25, 465, 587})
#: The default policy's ports for HTTPS endpoints (OAuth token endpoints).
HTTPS_PORTS = frozenset({443})


@dataclass(frozen=True)
class Rule:
    """One allowed destination: ``kind`` is ``name``, ``suffix``, ``network`` or ``public``."""

    kind: str
    value: object = None
    port: int = None


def parse(text):
    """The rules of a comma-separated policy (see the module doc).

    :raises ValueError: an entry that means nothing, with that entry in the message
    """
    rules = []
    for raw in (text or "").replace("\n", ",").split(","):
        entry = raw.strip()
        if entry:
            rules.append(_parse_entry(entry))
    return tuple(rules)


def _parse_entry(entry):
    host, port = entry, None
    if entry.startswith("["):  # [IPv6] or [IPv6]:port
        end = entry.find("]")
        if end < 0:
            raise ValueError(f"{entry!r}: an IPv6 address in brackets needs its ']'")
        host, rest = entry[1:end], entry[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{entry!r}: only ':port' may follow ']'")
            port = _port(rest[1:], entry)
    elif entry.count(":") == 1:
        host, port_text = entry.split(":")
        port = _port(port_text, entry)
    host = host.strip().lower().rstrip(".")
    if not host:
        raise ValueError(f"{entry!r}: no host")
    if host == "public":
        return Rule("public", port=port)
    network = _network(host)
    if network is not None:
        return Rule("network", network, port)
    if host.startswith("*."):
        suffix = host[2:]
        if not _is_host_name(suffix):
            raise ValueError(f"{entry!r}: not a host name after '*.'")
        return Rule("suffix", suffix, port)
    if not _is_host_name(host):
        raise ValueError(f"{entry!r}: not a host name, an IP address or a network")
    return Rule("name", host, port)


def _network(text):
    """``text`` as an IP network (an address is a network of one), or None."""
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _port(text, entry):
    try:
        port = int(text)
    except ValueError:
        raise ValueError(f"{entry!r}: the port must be a number") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"{entry!r}: the port must be between 1 and 65535")
    return port


def _is_host_name(name):
    labels = name.split(".")
    return len(name) <= 253 and all(
        label and len(label) <= 63 and label.replace("-", "").replace("_", "").isalnum()
        and label.isascii() and not label.startswith("-") for label in labels)


def is_public(address):
    """True for an address on the public internet (not loopback, private, link-local, ...)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_unspecified or ip.is_reserved)


class Policy:
    """The rules of :func:`parse` (none: the default) and the default's ports."""

    def __init__(self, rules=(), default_ports=MAIL_PORTS):
        self.rules = tuple(rules)
        self.default_ports = frozenset(default_ports)

    @classmethod
    def from_text(cls, text, default_ports=MAIL_PORTS):
        return cls(parse(text), default_ports)

    def __repr__(self):
        return f"<Policy {len(self.rules)} rules, default ports {sorted(self.default_ports)}>"

    def allows(self, host, address, port):
        """Whether connecting to ``address`` (resolved from ``host``) on ``port`` is allowed."""
        ip = ipaddress.ip_address(address)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        if not self.rules:
            return self._public(ip, port, None)
        name = (host or "").lower().rstrip(".")
        for rule in self.rules:
            if rule.port is not None and rule.port != port:
                continue
            if rule.kind == "public" and self._public(ip, port, rule.port):
                return True
            if rule.kind == "network" and ip.version == rule.value.version \
                    and ip in rule.value:
                return True
            if rule.kind == "name" and name == rule.value:
                return True
            if rule.kind == "suffix" and name.endswith("." + rule.value):
                return True
        return False

    def _public(self, ip, port, rule_port):
        return is_public(str(ip)) and (rule_port is not None or port in self.default_ports)

    def resolve(self, host, port):
        """The addresses of ``host`` that may be connected to on ``port``, in the resolver's
        order; connect to one of these, not to the name.

        :raises exceptions.HostNotFound: the name does not resolve
        :raises exceptions.HostRefused: none of its addresses is allowed (nothing was
            connected to)
        """
        try:
            ipaddress.ip_address(host)
            addresses = [host]
        except ValueError:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except socket.gaierror as exc:
                raise exceptions.HostNotFound(exc.strerror, host=host)
            except UnicodeError:
                raise exceptions.HostNotFound("not a valid host name", host=host)
            addresses = list(dict.fromkeys(info[4][0] for info in infos))
        allowed = [address for address in addresses if self.allows(host, address, port)]
        if not allowed:
            raise exceptions.HostRefused(host=f"{host}:{port}")
        return allowed


def connect_pinned(addresses, port, timeout):
    """A TCP connection to the first of ``addresses`` that answers (like
    ``socket.create_connection``, over addresses already checked by :meth:`Policy.resolve`)."""
    error = None
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout=timeout)
        except OSError as exc:
            error = exc
    raise error or OSError("no address to connect to")
