"""The sync engine's cache as dicts: a :class:`~vt_webmail.core.sync.SyncStore` for tests.

It counts its writes and remembers the order of the batches it was given, so tests can assert
that a refresh wrote nothing, or fetched newest first; ``fail_after_batches`` makes it fail like
a worker killed in the middle of a first sync.
"""

from vt_webmail.core.sync import FolderState, SyncStore


class DictStore(SyncStore):
    """The cache as dicts; counts writes and remembers the order of batches."""

    def __init__(self):
        self.messages = {}  # folder -> {uid: MessageSummary}
        self.states = {}
        self.batches = []
        self.writes = 0
        self.fail_after_batches = None

    def cached_uids(self, folder, min_uid=1):
        return {uid for uid in self.messages.get(folder, {}) if uid >= min_uid}

    def reset(self, folder, uidvalidity):
        self.writes += 1
        self.messages[folder] = {}

    def add(self, folder, uidvalidity, summaries):
        if self.fail_after_batches is not None and len(self.batches) >= self.fail_after_batches:
            raise RuntimeError("worker killed")
        self.writes += 1
        self.batches.append([summary.uid for summary in summaries])
        cache = self.messages.setdefault(folder, {})
        for summary in summaries:
            cache.setdefault(summary.uid, summary)

    def set_flags(self, folder, flags_by_uid):
        changed = 0
        for uid, flags in flags_by_uid.items():
            summary = self.messages.get(folder, {}).get(uid)
            if summary is not None and set(summary.flags) != set(flags):
                summary.flags = flags
                changed += 1
        if changed:
            self.writes += 1
        return changed

    def remove(self, folder, uids):
        cache = self.messages.get(folder, {})
        removed = sum(1 for uid in uids if cache.pop(uid, None) is not None)
        if removed:
            self.writes += 1
        return removed

    def save_state(self, folder, state):
        self.writes += 1
        self.states[folder] = state

    def state(self, folder):
        return self.states.get(folder, FolderState())
