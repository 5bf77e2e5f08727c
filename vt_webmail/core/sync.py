"""Incremental UID sync of one folder into a cache, with no ORM.

:func:`sync_folder` compares what the server says of a folder with the folder's saved
:class:`FolderState` and brings the cache (anything implementing :class:`SyncStore`; the Odoo
models in production, a dict in tests) up to date:

1. **Nothing changed**: done in one round trip, with no write to the cache. With CONDSTORE
   (RFC 7162) that trip is EXAMINE: same UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ. Without it
   (Courier, GNU Mailutils) it is STATUS: same UIDVALIDITY, UIDNEXT and UNSEEN, and flags read
   less than :data:`FLAGS_MAX_AGE` ago (a flag changed elsewhere that moves no count, a star
   say, is seen within that time). Either way the server's message count must also be the
   cache's (:meth:`SyncStore.cached_count`, no network).
2. **UIDVALIDITY changed**: the cached UIDs mean nothing any more; the cache of that folder is
   dropped and rebuilt, so no message is ever duplicated.
3. **Flags and expunged mail**: with CONDSTORE, ``UID FETCH 1:n (FLAGS) (CHANGEDSINCE m)`` over
   the UIDs cached so far (``n`` explicit: ``*`` is the highest UID *now*, which is not the
   same once the top message is gone), with QRESYNC's ``VANISHED`` too. Without, one
   ``UID FETCH low:high (FLAGS)`` per batch of cached UIDs, whose answer also tells which
   cached UIDs are gone.
4. **New mail**: the UIDs above the last complete pass that are not cached yet, fetched newest
   first in batches, one FETCH per batch; each batch is handed to the store, which makes it
   durable (in a second thread, while the next batch is fetched: see :class:`_BatchWriter`).
   A sync that dies midway loses at most the batches in flight: the one being fetched when the
   server stops, or that and the one being written when the worker is killed. The next run
   lists the same UIDs, skips the cached ones and goes on.
5. **The count is checked**: when the cache of the folder does not hold as many messages as
   the server said (EXISTS), whatever the steps above believed, the UIDs on the server are
   listed (``UID FETCH 1:n (UID)``, which every server answers right) and the cache made to
   match, both ways. A server that gets UIDs wrong makes the sync slower, never wrong.

UIDNEXT comes from SELECT's ``[UIDNEXT]`` code, else from STATUS (Courier sends it there
only), else from the last message's UID. The state is saved only at the end of a complete
pass, so a partial pass is always redone.

**Nothing cached is dropped on a server's word unless its answers agree with each other**: a
UIDVALIDITY change must be the same in two answers (STATUS and SELECT) before the folder's cache
is dropped, and cached UIDs missing from a listing are removed only when the listing holds as
many messages as the server counts (EXISTS, or a STATUS asked again after expunges). A server
that contradicts itself gets a :class:`~.exceptions.ProtocolError`, and the cache stays as it
was.
"""

import datetime
import queue
import threading
import time
from dataclasses import dataclass, field

from . import exceptions
from .imap_session import HEADER_KEY, SEARCH_WINDOW
from .mime import parse_list_headers

DEFAULT_BATCH_SIZE = 1000
#: The first batch of a first sync is small, so the newest page is readable at once.
FIRST_BATCH_SIZE = 100
#: Without CONDSTORE: cached UIDs whose flags one ``UID FETCH (FLAGS)`` reads (~40 bytes each in
#: the answer, so 200 KB a batch).
FLAGS_BATCH_SIZE = 5000
#: Without CONDSTORE, the flags of an otherwise unchanged folder are read again after this many
#: seconds: STATUS counts unread mail, so a mail read elsewhere is seen at once, but a flag
#: that moves no count (\\Flagged, \\Answered, a keyword) only then.
FLAGS_MAX_AGE = 15 * 60

_STANDARD_FLAGS = {"\\seen", "\\answered", "\\flagged", "\\deleted", "\\draft", "\\recent"}


@dataclass(frozen=True)
class FolderState:
    """What the cache knows of a folder after its last *complete* pass.

    ``uidnext`` is ``None`` until a pass completes: every UID below it is cached.
    ``messages`` is the server's message count then (EXISTS, or STATUS MESSAGES), ``unseen``
    STATUS UNSEEN (servers without CONDSTORE only) and ``flags_read_at`` when every flag was
    last read (``time.time()``; servers without CONDSTORE only).
    """

    uidvalidity: int = None
    uidnext: int = None
    highestmodseq: int = None
    messages: int = None
    unseen: int = None
    flags_read_at: float = None


@dataclass
class MessageSummary:
    """One message of the list: what a FETCH of summaries says, parsed."""

    uid: int
    flags: tuple
    internal_date: datetime.datetime
    size: int
    has_attachments: bool
    subject: str = ""
    email_from: str = ""
    from_address: str = ""  # the first From address, lower case
    email_to: str = ""
    email_cc: str = ""
    date: datetime.datetime = None
    message_id: str = ""
    in_reply_to: str = ""
    references: str = ""
    note: str = ""

    @property
    def is_seen(self):
        return "\\Seen" in self.flags

    @property
    def is_flagged(self):
        return "\\Flagged" in self.flags

    @property
    def is_answered(self):
        return "\\Answered" in self.flags

    @property
    def is_draft(self):
        return "\\Draft" in self.flags


@dataclass
class SyncResult:
    """Counts of one folder's sync, the state to save, and how much it cost."""

    new: int = 0
    changed: int = 0
    removed: int = 0
    reset: bool = False
    state: FolderState = None
    round_trips: int = 0
    notes: list = field(default_factory=list)


class SyncStore:
    """The cache a sync writes to. Every method gets the folder's name as first argument.

    Implementations make :meth:`add` durable before returning (commit), so a crash later loses
    nothing already added.
    """

    def cached_uids(self, folder, min_uid=1):
        """Set of cached UIDs ``>= min_uid`` of the folder (current UIDVALIDITY)."""
        raise NotImplementedError

    def cached_count(self, folder):
        """Number of cached messages of the folder."""
        return len(self.cached_uids(folder))

    def reset(self, folder, uidvalidity):
        """Forget every cached message of the folder: its UIDVALIDITY is now ``uidvalidity``."""
        raise NotImplementedError

    def prepare(self, folder, uidvalidity, summaries):
        """Turn a batch of :class:`MessageSummary` into what :meth:`add` stores.

        Called in the fetching thread, before the batch is handed over: CPU work that needs
        no database belongs here (rows to COPY, for instance), so the writing thread mostly
        waits on the database and lets the fetching thread run. Default: the summaries.
        """
        return summaries

    def add(self, folder, uidvalidity, batch):
        """Store a batch (what :meth:`prepare` made of the summaries); ignore UIDs already
        cached. With the pipeline on, this runs in the writer thread."""
        raise NotImplementedError

    def set_flags(self, folder, flags_by_uid):
        """Apply ``{uid: flags}`` to cached messages; return how many really changed."""
        raise NotImplementedError

    def remove(self, folder, uids):
        """Drop cached messages by UID; return how many were cached."""
        raise NotImplementedError

    def save_state(self, folder, state):
        """Remember :class:`FolderState` after a complete pass."""
        raise NotImplementedError


def normalise_flags(flags):
    """IMAP flags as ``str``, system flags capitalised the standard way (``\\Seen``).

    ``\\Recent`` is dropped: it belongs to one session, not to the message (and IMAP4rev2
    removed it), so it would make every other client's session look like a flag change.
    """
    result = []
    for flag in flags or ():
        text = flag.decode("utf-8", "replace") if isinstance(flag, bytes) else str(flag)
        if text.lower() == "\\recent":
            continue
        if text.lower() in _STANDARD_FLAGS:
            text = "\\" + text[1:].capitalize()
        result.append(text)
    return tuple(result)


def has_attachments(bodystructure):
    """True when a BODYSTRUCTURE (as parsed by imapclient) holds an attachment.

    A part is an attachment when its disposition says so, or when it has a file name and is not
    a plain or HTML text shown inline.
    """
    if bodystructure is None:
        return False
    try:
        return _walk_attachments(bodystructure)
    except (TypeError, IndexError, AttributeError, ValueError, RecursionError):
        return False


def _walk_attachments(part):
    if getattr(part, "is_multipart", False) or (
        isinstance(part, (tuple, list)) and part and isinstance(part[0], (list, tuple))
    ):
        children = part[0] if isinstance(part[0], list) else [
            child for child in part if isinstance(child, (tuple, list)) and child
            and not isinstance(child[0], (bytes, str))
        ]
        return any(_walk_attachments(child) for child in children)
    maintype = _lower(part[0])
    subtype = _lower(part[1])
    params = _pairs(part[2])
    disposition = _disposition(part, maintype)
    if disposition and _lower(disposition[0]) == "attachment":
        return True
    filename = params.get("name") or (_pairs(disposition[1]).get("filename") if disposition
                                      and len(disposition) > 1 else None)
    if filename and not (maintype == "text" and subtype in ("plain", "html")):
        return disposition is None or _lower(disposition[0]) != "inline" or maintype != "image"
    if maintype == "message" and subtype == "rfc822":
        return True
    return maintype == "application"


def _disposition(part, maintype):
    # single-part extension data: md5, disposition, language, location; text and message/rfc822
    # parts carry extra fixed fields first
    start = 7
    if maintype == "text":
        start = 8
    elif maintype == "message" and _lower(part[1]) == "rfc822":
        start = 10
    index = start + 1  # skip md5
    if len(part) > index and isinstance(part[index], tuple) and part[index] \
            and isinstance(part[index][0], (bytes, str)):
        return part[index]
    return None


def _lower(value):
    if isinstance(value, bytes):
        return value.decode("ascii", "replace").lower()
    return (value or "").lower()


def _pairs(value):
    if not isinstance(value, tuple):
        return {}
    return {
        _lower(value[i]): value[i + 1] for i in range(0, len(value) - 1, 2)
    }


def summary_from_fetch(uid, values):
    """Build a :class:`MessageSummary` from one message of a summaries FETCH; never raises."""
    headers = parse_list_headers(values.get(HEADER_KEY) or b"")
    internal_date = _utc(values.get(b"INTERNALDATE"))
    date = _utc(headers.date)
    if date is None or date.year < 1971:
        date = internal_date
    return MessageSummary(
        uid=uid,
        flags=normalise_flags(values.get(b"FLAGS")),
        internal_date=internal_date,
        size=int(values.get(b"RFC822.SIZE") or 0),
        has_attachments=has_attachments(values.get(b"BODYSTRUCTURE")),
        subject=headers.subject,
        email_from=headers.email_from,
        from_address=headers.from_address,
        email_to=headers.email_to,
        email_cc=headers.email_cc,
        date=date,
        message_id=headers.message_id,
        in_reply_to=headers.in_reply_to,
        references=headers.references,
        note=headers.note,
    )


def _utc(value):
    """An aware datetime in UTC (naive ones are taken as UTC), or None: for a datetime that
    cannot be moved to UTC (``0001-01-01 00:00 +0100`` would fall before year 1) or that is
    not one."""
    if not isinstance(value, datetime.datetime):
        return None
    try:
        if value.tzinfo is None:
            return value.replace(tzinfo=datetime.timezone.utc)
        return value.astimezone(datetime.timezone.utc)
    except (OverflowError, ValueError):
        return None


class _BatchWriter:
    """Hands parsed batches to the store, in a second thread when asked.

    With ``threaded``, batch N is written (the store's database work) while the session
    fetches and parses batch N+1: the network wait and the database wait overlap. The caller's
    thread parses (headers, and the store's :meth:`SyncStore.prepare`), so the writer thread
    holds the GIL only briefly and a first sync takes little more than its fetches. The store
    is used from the writer thread only during the loop. A batch is handed over once the
    previous one is stored, so two batches at most are in flight: one being fetched, one being
    written.
    """

    def __init__(self, store, folder, uidvalidity, *, threaded):
        self.store = store
        self.folder = folder
        self.uidvalidity = uidvalidity
        self.stored = 0
        self.error = None
        self.thread = None
        if threaded:
            self.queue = queue.Queue(maxsize=1)
            self.thread = threading.Thread(target=self._run, name="vt_webmail-sync-writer",
                                           daemon=True)
            self.thread.start()

    def put(self, batch, fetched):
        """Parse one fetched batch and have it stored."""
        if self.error is not None:
            raise self.error
        summaries = [summary_from_fetch(uid, fetched[uid]) for uid in batch if uid in fetched]
        if not summaries:
            return
        prepared = self.store.prepare(self.folder, self.uidvalidity, summaries)
        if self.thread is None:
            self._write(prepared, len(summaries))
            return
        self.queue.join()  # the previous batch is stored
        if self.error is not None:
            raise self.error
        self.queue.put((prepared, len(summaries)))

    def close(self, *, raise_error=True):
        """Wait until every batch put is stored; re-raise the writer's error if asked."""
        if self.thread is not None:
            self.queue.put(None)
            self.thread.join()
        if self.error is not None and raise_error:
            raise self.error

    def _write(self, prepared, count):
        self.store.add(self.folder, self.uidvalidity, prepared)
        self.stored += count

    def _run(self):
        while True:
            item = self.queue.get()
            try:
                if item is None:
                    return
                if self.error is None:
                    self._write(*item)
            except BaseException as exc:  # handed to the fetching thread by put/close
                self.error = exc
            finally:
                self.queue.task_done()


def sync_folder(session, folder, state, store, *, batch_size=None, first_batch_size=None,
                pipeline=True, now=None):
    """Bring ``store``'s cache of ``folder`` up to date; see the module docstring.

    :param session: a logged-in :class:`~.imap_session.ImapSession`
    :param folder: the folder's full IMAP name
    :param state: the :class:`FolderState` saved by the previous complete pass (or an empty one)
    :param store: a :class:`SyncStore`
    :param batch_size: UIDs per FETCH (default :data:`DEFAULT_BATCH_SIZE`)
    :param first_batch_size: size of the first batch of a first sync, so the newest mail is
        stored at once (default :data:`FIRST_BATCH_SIZE`)
    :param pipeline: parse and store each batch in a second thread while the next one is
        fetched (the store is then called from that thread during the fetch loop)
    :param now: the time (``time.time()``), for the flags' age
    :returns: :class:`SyncResult` (its ``state`` is already saved in the store)
    :raises exceptions.WebmailError: on any network or protocol failure; whatever was stored
        before stays stored
    """
    batch_size = batch_size or DEFAULT_BATCH_SIZE
    first_batch_size = first_batch_size or FIRST_BATCH_SIZE
    now = time.time() if now is None else now
    trips_before = session.round_trips
    result = SyncResult()
    state = state or FolderState()

    def done(final_state):
        result.state = final_state
        result.round_trips = session.round_trips - trips_before
        return result

    complete = state.uidnext is not None
    # without mod-sequences (no CONDSTORE, or a folder that has none: a complete pass saved no
    # HIGHESTMODSEQ), STATUS tells without selecting whether anything changed
    status = None
    if not session.condstore or (complete and state.highestmodseq is None):
        status = session.status(folder)
        flags_due = state.flags_read_at is None or now - state.flags_read_at >= FLAGS_MAX_AGE
        same = status.uidnext is not None and (status.uidnext, status.unseen) == (
            state.uidnext, state.unseen) and (
            # an empty folder's UIDVALIDITY means nothing: Courier gives it a new one in
            # every session until a message arrives
            status.uidvalidity == state.uidvalidity or status.messages == 0)
        if complete and not flags_due and same \
                and status.messages == state.messages == store.cached_count(folder):
            return done(state)

    info = session.select(folder, readonly=True)
    if info.uidnext is not None and info.exists > info.uidnext - 1:
        # UIDs are unique and below UIDNEXT (RFC 3501 2.3.1.1): one answer, two numbers
        raise exceptions.ProtocolError(
            f"{folder} holds {info.exists:,} messages below UIDNEXT {info.uidnext:,}",
            host=session.host)
    uidnext = info.uidnext or (status and status.uidnext) \
        or session.next_uid(folder, info.exists)
    modseq = info.highestmodseq if session.condstore else None

    if state.uidvalidity != info.uidvalidity:
        if state.uidvalidity is not None and info.exists and store.cached_count(folder):
            # about to drop the cache: the server must say the same twice
            again = status.uidvalidity if status is not None else session.status(
                folder, ("UIDVALIDITY",)).uidvalidity
            if again != info.uidvalidity:
                raise exceptions.ProtocolError(
                    f"the UIDVALIDITY of {folder} changes from one answer to the next "
                    f"({again}, then {info.uidvalidity}): the cached mail is kept",
                    host=session.host)
        if state.uidvalidity is not None or store.cached_count(folder):
            store.reset(folder, info.uidvalidity)
            result.reset = True
        state = FolderState(uidvalidity=info.uidvalidity)
        complete = False
        if info.exists:
            # saved at once: a first pass that dies midway resumes under the same UIDVALIDITY
            store.save_state(folder, state)

    if complete and status is None and modseq is not None \
            and (uidnext, modseq) == (state.uidnext, state.highestmodseq) \
            and info.exists == state.messages == store.cached_count(folder):
        return done(state)

    flags_read_at = state.flags_read_at
    gone, present_count = [], None
    if complete:
        known_high = state.uidnext - 1
        if status is None and modseq is not None and state.highestmodseq is not None:
            if modseq != state.highestmodseq:
                _read_flag_changes(session, store, folder, result, state.highestmodseq,
                                   known_high)
        else:
            gone, present_count = _read_all_flags(session, store, folder, result, known_high)
            flags_read_at = now

    high = uidnext - 1
    low = state.uidnext or 1
    server_uids = session.search_uids(low, high, max_count=info.exists) if high >= low else []
    if gone:
        # the flags' answer left out cached UIDs: gone, if the server's own count agrees
        _check_listing(session, folder, present_count + len(server_uids), info.exists)
        result.removed += store.remove(folder, gone)
    if server_uids:
        cached = store.cached_uids(folder, min_uid=low)
        missing = [uid for uid in server_uids if uid not in cached]
        result.new += _fetch_new(session, store, folder, info.uidvalidity, missing,
                                 first_batch_size if not complete else batch_size,
                                 batch_size, pipeline)
    if not complete:
        flags_read_at = now  # every flag came with its summary

    if store.cached_count(folder) != info.exists:
        # the cache and the server disagree, whatever the steps above believed: list the
        # UIDs of the SELECT snapshot and make the cache match, both ways (if the server's
        # listing and its count agree)
        present = set(session.list_uids(1, high))
        _check_listing(session, folder, len(present), info.exists)
        cached = store.cached_uids(folder)
        gone = sorted(uid for uid in cached if uid not in present)
        if gone:
            result.removed += store.remove(folder, gone)
        missing = [uid for uid in present if uid not in cached]
        if missing:
            result.new += _fetch_new(session, store, folder, info.uidvalidity, missing,
                                     batch_size, batch_size, pipeline)

    final = FolderState(
        uidvalidity=info.uidvalidity,
        uidnext=uidnext,
        highestmodseq=modseq if status is None else None,
        messages=status.messages if status is not None else info.exists,
        unseen=status.unseen if status is not None else None,
        flags_read_at=flags_read_at if status is not None else None,
    )
    store.save_state(folder, final)
    return done(final)


def _apply_flags(store, folder, result, flags_by_uid, known_high):
    # UIDs above the last pass are new mail: their flags come with their summaries
    flags = {uid: normalise_flags(value) for uid, value in flags_by_uid.items()
             if uid <= known_high}
    if flags:
        result.changed += store.set_flags(folder, flags)


def _uid_windows(cached, known_high, size):
    """``(low, high)`` UID ranges that cover ``1:known_high``, each holding at most ``size`` of
    the (sorted) ``cached`` UIDs: one range for a folder of up to ``size`` messages."""
    windows, low = [], 1
    for start in range(0, max(len(cached), 1), size):
        chunk = cached[start:start + size]
        last = start + size >= len(cached)
        high = known_high if last or not chunk else chunk[-1]
        windows.append((low, high))
        low = high + 1
    return windows


def _read_flag_changes(session, store, folder, result, since, known_high):
    """With CONDSTORE: the flags changed since ``since`` and (QRESYNC) the vanished UIDs, one
    FETCH per :data:`~.imap_session.SEARCH_WINDOW` cached UIDs."""
    cached = sorted(uid for uid in store.cached_uids(folder) if uid <= known_high)
    for low, high in _uid_windows(cached, known_high, SEARCH_WINDOW):
        changes = session.fetch_flag_changes(since, high, low=low)
        _apply_flags(store, folder, result, changes.flags, known_high)
        if changes.vanished:
            gone = [uid for uid in cached if low <= uid <= high and uid in changes.vanished]
            if gone:
                result.removed += store.remove(folder, gone)


def _read_all_flags(session, store, folder, result, known_high):
    """Without CONDSTORE: read the flags of every cached UID up to ``known_high``, one FETCH per
    :data:`FLAGS_BATCH_SIZE` of them.

    :returns: ``(gone, present)``: the cached UIDs the answers left out (removed by the caller
        once the server's count confirms them), and how many UIDs the answers held
    """
    cached = sorted(uid for uid in store.cached_uids(folder) if uid <= known_high)
    present = set()
    for low, high in _uid_windows(cached, known_high, FLAGS_BATCH_SIZE):
        flags = session.fetch_flags(low, high)
        present.update(flags)
        _apply_flags(store, folder, result, flags, known_high)
    return [uid for uid in cached if uid not in present], len(present)


def _check_listing(session, folder, listed, exists):
    """Raise unless ``listed`` UIDs (a listing of the whole SELECT snapshot) can be the
    ``exists`` messages SELECT counted: the same number, or fewer when a fresh STATUS counts
    that many (another client expunged mail meanwhile)."""
    if listed == exists:
        return
    if listed < exists:
        now = session.status(folder, ("MESSAGES",)).messages
        if now is not None and listed >= now:
            return
    raise exceptions.ProtocolError(
        f"the server counts {exists:,} messages in {folder} but lists {listed:,}: the cached "
        "mail is kept", host=session.host)


def _fetch_new(session, store, folder, uidvalidity, uids, size, batch_size, pipeline):
    """Fetch the summaries of ``uids``, newest first, and store them; return how many."""
    missing = sorted(uids, reverse=True)
    writer = _BatchWriter(store, folder, uidvalidity, threaded=pipeline and len(missing) > size)
    failed = True
    try:
        position = 0
        while position < len(missing):
            batch = missing[position:position + size]
            position += size
            size = batch_size
            writer.put(batch, session.fetch_summaries(batch))
        failed = False
    finally:
        # what was fetched is stored even when a later fetch failed
        writer.close(raise_error=not failed)
    return writer.stored
