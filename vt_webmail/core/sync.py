"""Incremental UID sync of one folder into a cache, with no ORM.

:func:`sync_folder` compares what the server says of a folder (SELECT) with the folder's saved
:class:`FolderState` and brings the cache (anything implementing :class:`SyncStore`; the Odoo
models in production, a dict in tests) up to date:

1. **UIDVALIDITY changed**: the cached UIDs mean nothing any more; the cache of that folder is
   dropped and rebuilt, so no message is ever duplicated.
2. **Nothing changed** (same UIDNEXT and, with CONDSTORE, same HIGHESTMODSEQ): done after the
   single SELECT round trip, with no write to the cache.
3. **Flags**: with CONDSTORE, ``UID FETCH 1:* (FLAGS) (CHANGEDSINCE m)``; without, FLAGS of every
   cached UID is read again.
4. **Expunged mail**: with QRESYNC, the ``VANISHED`` UIDs of that same FETCH; without, when the
   folder's message count differs from the cache's, a UID SEARCH tells which cached UIDs are gone.
5. **New mail**: the UIDs above the last complete pass that are not cached yet, fetched newest
   first in batches, one FETCH per batch; each batch is handed to the store, which makes it
   durable (in a second thread, while the next batch is fetched: see :class:`_BatchWriter`).
   A sync that dies midway loses at most the batches in flight: the one being fetched when the
   server stops, or that and the one being written when the worker is killed. The next run
   lists the same UIDs, skips the cached ones and goes on.

The state is saved only at the end of a complete pass, so a partial pass is always redone.
"""

import datetime
import queue
import threading
from dataclasses import dataclass, field, replace

from .imap_session import HEADER_KEY
from .mime import parse_list_headers

DEFAULT_BATCH_SIZE = 1000
#: The first batch of a first sync is small, so the newest page is readable at once.
FIRST_BATCH_SIZE = 100

_STANDARD_FLAGS = {"\\seen", "\\answered", "\\flagged", "\\deleted", "\\draft", "\\recent"}


@dataclass(frozen=True)
class FolderState:
    """What the cache knows of a folder after its last *complete* pass.

    ``uidnext`` is ``None`` until a pass completes: every UID below it is cached.
    """

    uidvalidity: int = None
    uidnext: int = None
    highestmodseq: int = None


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
    except (TypeError, IndexError, AttributeError, ValueError):
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
    internal_date = values.get(b"INTERNALDATE")
    if isinstance(internal_date, datetime.datetime) and internal_date.tzinfo is None:
        internal_date = internal_date.replace(tzinfo=datetime.timezone.utc)
    date = headers.date
    if date is not None and date.tzinfo is None:
        date = date.replace(tzinfo=datetime.timezone.utc)
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
                pipeline=True):
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
    :returns: :class:`SyncResult` (its ``state`` is already saved in the store)
    :raises exceptions.WebmailError: on any network or protocol failure; whatever was stored
        before stays stored
    """
    batch_size = batch_size or DEFAULT_BATCH_SIZE
    first_batch_size = first_batch_size or FIRST_BATCH_SIZE
    trips_before = session.round_trips
    result = SyncResult()
    info = session.select(folder, readonly=True)
    state = state or FolderState()

    if state.uidvalidity != info.uidvalidity:
        if state.uidvalidity is not None or store.cached_count(folder):
            store.reset(folder, info.uidvalidity)
            result.reset = True
        state = FolderState(uidvalidity=info.uidvalidity)
        if info.exists:
            # saved at once: a first pass that dies midway resumes under the same UIDVALIDITY
            store.save_state(folder, state)

    unchanged = (
        state.uidnext is not None
        and info.uidnext is not None
        and info.uidnext == state.uidnext
        and session.condstore
        and info.highestmodseq is not None
        and info.highestmodseq == state.highestmodseq
    )
    if unchanged:
        result.state = state
        result.round_trips = session.round_trips - trips_before
        return result

    vanished_known = False
    if state.uidnext is not None:
        if session.condstore and state.highestmodseq is not None \
                and info.highestmodseq is not None:
            if info.highestmodseq != state.highestmodseq:
                changes = session.fetch_flag_changes(since_modseq=state.highestmodseq)
            else:
                changes = None
            vanished_known = session.qresync
        else:
            changes = session.fetch_flag_changes(uids=store.cached_uids(folder))
        if changes is not None:
            # UIDs from the old UIDNEXT on are new mail: their flags come with their summaries
            flags = {uid: normalise_flags(value) for uid, value in changes.flags.items()
                     if uid < state.uidnext}
            if flags:
                result.changed = store.set_flags(folder, flags)
            if changes.vanished:
                result.removed += store.remove(folder, changes.vanished)

    low = state.uidnext or 1
    high = info.uidnext - 1 if info.uidnext else None
    if high is None or high >= low:
        server_uids = session.search_uids(low, high)
        cached = store.cached_uids(folder, min_uid=low)
        missing = sorted((uid for uid in server_uids if uid not in cached), reverse=True)
        size = first_batch_size if state.uidnext is None else batch_size
        writer = _BatchWriter(store, folder, info.uidvalidity,
                              threaded=pipeline and len(missing) > size)
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
        result.new += writer.stored

    if not vanished_known and store.cached_count(folder) != info.exists:
        # some cached UIDs are gone: a UID listing of the SELECT snapshot tells which
        present = set(session.search_uids(1, high)) if (high or 0) >= 1 else set()
        gone = store.cached_uids(folder) - present
        if high is not None:
            gone = {uid for uid in gone if uid <= high}
        if gone:
            result.removed += store.remove(folder, sorted(gone))

    uidnext = info.uidnext
    if uidnext is None:
        uids = store.cached_uids(folder)
        uidnext = max(uids) + 1 if uids else 1
    result.state = replace(state, uidvalidity=info.uidvalidity, uidnext=uidnext,
                           highestmodseq=info.highestmodseq)
    store.save_state(folder, result.state)
    result.round_trips = session.round_trips - trips_before
    return result
