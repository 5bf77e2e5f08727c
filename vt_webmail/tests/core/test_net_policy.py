"""core.net_policy: what may be connected to, checked on the addresses actually connected to."""

import socket

import pytest

from vt_webmail.core import exceptions, net_policy
from vt_webmail.core.imap_session import ServerSettings, connect
from vt_webmail.testing import SilentServer, closed_port

Policy = net_policy.Policy


def test_parse_entries():
    rules = net_policy.parse(
        "mail.example.com, *.corp.example:993 , 10.0.0.0/8:143, 192.0.2.7, [2001:db8::1]:587,"
        " fe80::/10, public")
    assert rules == (
        net_policy.Rule("name", "mail.example.com"),
        net_policy.Rule("suffix", "corp.example", 993),
        net_policy.Rule("network", net_policy.ipaddress.ip_network("10.0.0.0/8"), 143),
        net_policy.Rule("network", net_policy.ipaddress.ip_network("192.0.2.7/32")),
        net_policy.Rule("network", net_policy.ipaddress.ip_network("2001:db8::1/128"), 587),
        net_policy.Rule("network", net_policy.ipaddress.ip_network("fe80::/10")),
        net_policy.Rule("public"),
    )
    assert net_policy.parse("") == net_policy.parse(" , ,") == ()
    for bad in ("mail.example.com:x", "host:0", "host:70000", "[::1", "[::1]x", "*.", "a b",
                "exa$mple.com", "*.-bad"):
        with pytest.raises(ValueError):
            net_policy.parse(bad)


@pytest.mark.parametrize("address, port, allowed", [
    ("93.184.216.34", 993, True),      # public, a mail port
    ("93.184.216.34", 587, True),
    ("93.184.216.34", 22, False),      # public, not a mail port
    ("93.184.216.34", 5432, False),
    ("127.0.0.1", 993, False),         # this server
    ("::1", 143, False),
    ("10.1.2.3", 993, False),          # private
    ("192.168.0.10", 25, False),
    ("172.16.5.5", 465, False),
    ("169.254.169.254", 143, False),   # link-local: cloud metadata
    ("fe80::1", 993, False),
    ("fd00::1", 993, False),           # unique local
    ("100.64.0.1", 993, False),        # shared (carrier-grade NAT)
    ("::ffff:127.0.0.1", 993, False),  # loopback in an IPv4-mapped IPv6 address
    ("224.0.0.1", 993, False),         # multicast
    ("0.0.0.0", 993, False),
    ("2606:4700::1111", 993, True),    # public IPv6
])
def test_default_policy(address, port, allowed):
    assert Policy().allows("mail.example.com", address, port) is allowed


def test_rules():
    policy = Policy.from_text("127.0.0.1, mail.example.com:993, *.corp.example, 10.0.0.0/8:143")
    assert policy.allows("localhost", "127.0.0.1", 5432)  # an address, every port
    assert policy.allows("mail.example.com", "192.168.9.9", 993)  # a name: where it resolves
    assert not policy.allows("mail.example.com", "192.168.9.9", 143)
    assert policy.allows("imap.corp.example", "192.168.1.1", 22)
    assert not policy.allows("corp.example", "192.168.1.1", 22)  # *. is below the name only
    assert policy.allows("x", "10.2.3.4", 143) and not policy.allows("x", "10.2.3.4", 993)
    # a list replaces the default: public servers are refused unless "public" is listed
    assert not policy.allows("imap.gmail.com", "142.250.0.1", 993)
    assert Policy.from_text("public, 10.1.1.1").allows("imap.gmail.com", "142.250.0.1", 993)
    assert not Policy.from_text("public").allows("x", "142.250.0.1", 22)
    assert Policy.from_text("public:2525").allows("x", "142.250.0.1", 2525)
    assert Policy((), net_policy.HTTPS_PORTS).allows("x", "142.250.0.1", 443)
    assert not Policy((), net_policy.HTTPS_PORTS).allows("x", "142.250.0.1", 993)


def test_a_refused_host_is_never_connected_to_and_says_the_same_thing():
    """Open port or closed port, the answer is identical and nothing is tried."""
    with SilentServer() as listening:
        answers = []
        for port in (listening.port, closed_port()):
            settings = ServerSettings("127.0.0.1", port, "u", "p", security="none", timeout=2,
                                      policy=Policy())
            with pytest.raises(exceptions.HostRefused) as caught:
                connect(settings)
            answers.append(str(caught.value).replace(str(port), "PORT"))
        assert answers[0] == answers[1]
        assert listening.accepted_count() == 0


def test_the_address_checked_is_the_address_connected_to(mailbox, monkeypatch):
    """DNS rebinding: the name resolves to an allowed address when checked, then to another.
    The session goes to the address that was checked; the name is only resolved once; TLS is
    verified against the name."""
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1", "127.0.0.2", "127.0.0.2"])
    calls = []

    def rebinding(host, port, *args, **kwargs):
        if host != "localhost":
            return real(host, port, *args, **kwargs)
        calls.append(host)
        address = next(answers)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    server = mailbox.server
    settings = ServerSettings("localhost", server.imaps_port, mailbox.login, mailbox.password,
                              ca_pem=server.ca_path.read_text(), timeout=5,
                              policy=Policy.from_text("127.0.0.1"))
    with connect(settings) as session:
        assert session.select("INBOX").exists == 0
        assert session.client.socket().getpeername()[0] == "127.0.0.1"
    assert calls == ["localhost"]
    # the second answer is refused at the check, not connected to
    with pytest.raises(exceptions.HostRefused):
        connect(settings)


def test_smtp_and_oauth_endpoints_follow_the_policy():
    from vt_webmail.core import oauth, smtp

    with SilentServer() as listening:
        settings = smtp.SmtpSettings("127.0.0.1", listening.port, "u", "p", timeout=2,
                                     policy=Policy())
        with pytest.raises(exceptions.HostRefused):
            smtp.send(settings, b"Subject: x\r\n\r\nx\r\n", envelope_from="a@example.com",
                      recipients=["b@example.com"])
        provider = oauth.with_endpoints(oauth.GOOGLE,
                                        token_url=f"http://127.0.0.1:{listening.port}/token")
        client = oauth.Client("id", "secret", "https://odoo.example.com/cb")
        with pytest.raises(exceptions.HostRefused):
            oauth.refresh(provider, client, "r", timeout=2,
                          policy=Policy((), net_policy.HTTPS_PORTS))
        assert listening.accepted_count() == 0
