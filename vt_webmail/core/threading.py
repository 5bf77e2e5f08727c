"""Conversations: the JWZ threading algorithm, incremental, independent of the order of arrival.

Jamie Zawinski's algorithm (https://www.jwz.org/doc/threading.html) links every mail to the ids
its ``References`` (or, without them, the first id of ``In-Reply-To``) names: each consecutive
pair of ids is a parent and its child, the last id is the mail's parent. Ids named but never seen
are empty containers ("missing parents") that still hold their children together. Mails with no
such header at all are then gathered by subject.

What this module computes, for one account (all its folders, Sent included):

* a **conversation** is a connected set of that graph: mails and the ids they name, joined by
  the links above, whatever their direction. JWZ's own step 1 skips a link when the child has a
  parent already or when the link would close a loop; both make its trees depend on the order
  the mails were read, and a conversation that is updated mail by mail must not (the result of
  :meth:`Threader.add` and :meth:`Threader.remove` is always the result a from-scratch run would
  give). Broken and cyclic ``References`` therefore cannot loop or lose a mail: a cycle is just
  one more path inside one conversation.
* **the same Message-Id is the same mail**: a mail copied into two folders, or the user's reply
  kept in Sent and received again through a list, is one node; each copy is an item of its own
  and all copies are in the same conversation. Two different mails that a broken mailer gave one
  id are in one conversation too (the id is all there is to tell them apart).
* **subject merging only where references are missing**: a mail with neither ``References`` nor
  ``In-Reply-To`` whose subject says it is a reply (``Re:``, ``AW:``, ``SV:``, ``Antw:``...,
  repeated or numbered as in ``Re[2]:``) joins the conversation of the newest mail with the same
  subject (prefixes, list tags such as ``[dev]`` and spacing dropped, case ignored) dated at or
  before it. A forward (``Fwd:``, ``Fw:``, ``WG:``, ``TR:``) starts a conversation of its own, and
  a mail with no prefix never joins another by subject (two mails both titled "Hello" are not one
  conversation; JWZ would merge them). An empty subject never merges.
* a conversation's **key** is a short hash of the node of its oldest mail (by date, then node):
  it changes only when an older mail joins or the oldest one leaves.

:meth:`Threader.tree` gives the mails of one conversation in reading order with their depth, as
JWZ's step 1 and step 4 (empty containers pruned, their children promoted) build them, run over
the conversation's mails sorted by date so that the tree, too, does not depend on arrival order.

Cost: adding a mail is a few dictionary operations per id it names plus the merge of the smaller
conversation into the larger; removing one (or a subject link that moves) walks the conversation
it leaves. Nothing is ever recomputed for the whole account.
"""

import bisect
import dataclasses
import datetime
import hashlib
import re

_ID = re.compile(r"<([^<>]*)>")
# reply prefixes in the languages mail clients write them in; "Re[2]:", "Re^2:", "RE :" too
_REPLY = r"(?:re|aw|sv|vs|antw|antwort|rif|r|ref|odp|res|vá|atb|ynt|回复|答复)"
_FORWARD = r"(?:fwd?|wg|tr|rv|enc|doorst|vb|vl|i|fs|pd|转发)"
_PREFIX = re.compile(
    rf"^\s*(?:\[[^\]]*\]\s*)*(?:({_REPLY})|({_FORWARD}))\s*(?:[\[(^]?\d+[\])]?)?\s*[:：]\s*",
    re.IGNORECASE,
)
_LIST_TAG = re.compile(r"^\s*\[[^\]]*\]\s*")
_SPACE = re.compile(r"\s+")
_NO_DATE = datetime.datetime.max


def parse_ids(value):
    """The message ids in a header value, without their angle brackets, in order.

    A value with no ``<...>`` at all (some mailers drop them) counts as one id if it is a single
    word with an ``@``.
    """
    if not value:
        return []
    ids = [token.strip() for token in _ID.findall(value)]
    ids = [token for token in ids if token]
    if not ids:
        word = value.strip()
        if word and "@" in word and not _SPACE.search(word):
            ids = [word]
    return ids


def subject_key(subject):
    """``(base, kind)``: the subject as compared for merging (prefixes and list tags dropped,
    spaces collapsed, lower case) and what its first prefix says it is: ``"reply"``,
    ``"forward"`` or ``None``."""
    text = subject or ""
    kind = None
    while True:
        match = _PREFIX.match(text)
        if match:
            kind = kind or ("reply" if match.group(1) else "forward")
            text = text[match.end():]
            continue
        tag = _LIST_TAG.match(text)
        if tag and tag.end() < len(text):
            text = text[tag.end():]
            continue
        break
    return _SPACE.sub(" ", text).strip().casefold(), kind


@dataclasses.dataclass(frozen=True)
class Mail:
    """One cached mail, as threading sees it.

    ``key`` is the caller's own identifier of this copy (a database id): unique, hashable,
    orderable among keys of the same type. ``date`` is a datetime (all naive or all aware) or
    None.
    """

    key: object
    message_id: str = ""
    in_reply_to: str = ""
    references: str = ""
    subject: str = ""
    date: datetime.datetime = None


@dataclasses.dataclass
class Update:
    """What an :meth:`Threader.add` or :meth:`Threader.remove` changed.

    ``conversations``: mail key -> its new conversation key, for every mail whose conversation
    key changed (``None`` for a mail removed). ``changed``: the conversation keys that now exist
    and gained or lost mails or were created. ``removed``: the conversation keys that no longer
    exist.
    """

    conversations: dict = dataclasses.field(default_factory=dict)
    changed: set = dataclasses.field(default_factory=set)
    removed: set = dataclasses.field(default_factory=set)


class _Item:
    __slots__ = ("base", "date", "edges", "key", "node", "order", "parent_ids", "refless_reply")

    def __init__(self, mail):
        self.key = mail.key
        ids = parse_ids(mail.message_id)
        self.node = ids[0] if ids else f"\x00{mail.key!r}"
        parents = parse_ids(mail.references)
        if not parents:
            parents = parse_ids(mail.in_reply_to)[:1]
        self.parent_ids = parents
        base, kind = subject_key(mail.subject)
        self.base = base
        self.refless_reply = not parents and kind == "reply" and bool(base)
        date = mail.date
        if date is not None and date.tzinfo is not None:
            date = date.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        self.date = date
        self.order = (date is None, date or _NO_DATE, self.node, repr(self.key))
        # the reference edges this mail owns (the subject edge is kept in Threader._subject_edge)
        chain = [*parents, self.node]
        self.edges = [(a, b) for a, b in zip(chain, chain[1:], strict=False) if a != b]


def conversation_key(node):
    """The key of a conversation whose oldest mail is ``node``: 16 hex digits."""
    return hashlib.blake2b(node.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


class Threader:
    """The conversations of one account, updated as mails are added and removed.

    >>> threader = Threader()
    >>> update = threader.add([Mail(1, "<a@x>", subject="Hi"), Mail(2, "<b@x>", "<a@x>")])
    >>> threader.conversation(1) == threader.conversation(2)
    True
    """

    def __init__(self):
        self._items = {}  # mail key -> _Item
        self._node_items = {}  # node -> set of mail keys
        self._adj = {}  # node -> {neighbour node: number of edges}
        self._comp = {}  # node -> component id
        self._members = {}  # component id -> set of nodes
        self._comp_key = {}  # component id -> conversation key
        self._conv_comp = {}  # conversation key -> component id
        self._oldest = {}  # component id -> (order, node) of its oldest mail
        self._stale = set()  # nodes moved to another component by a merge, since _settle
        self._item_conv = {}  # mail key -> conversation key
        self._subjects = {}  # base subject -> sorted list of (order, mail key)
        self._subject_edge = {}  # mail key -> (node, node) subject edge it owns
        self._next_comp = 0

    # -- reading -----------------------------------------------------------------------------

    def __len__(self):
        return len(self._items)

    def conversation(self, key):
        """The conversation key of a mail (KeyError when it is unknown)."""
        return self._item_conv[key]

    def conversations(self):
        """Every mail key with its conversation key."""
        return dict(self._item_conv)

    def members(self, conversation):
        """The mail keys of a conversation, oldest first."""
        comp = self._conv_comp.get(conversation)
        if comp is None:
            return []
        return [item.key for item in sorted(
            (self._items[k] for k in self._comp_items(comp)), key=lambda i: i.order)]

    def tree(self, conversation):
        """The mails of a conversation in reading order: a list of ``(mail key, depth)``.

        JWZ step 1 over the conversation's mails in date order (a link is not made when the
        child already has a parent or when it would close a loop; a mail's own parent is the last
        id it names), a reference-less reply under the mail its subject joined, then step 4:
        empty containers are pruned and their children promoted. Siblings are in date order;
        copies of one mail (same Message-Id) follow each other at the same depth.
        """
        keys = self.members(conversation)
        if not keys:
            return []
        items = [self._items[key] for key in keys]
        parent = {}

        def ancestors(node):
            seen = set()
            while node is not None and node not in seen:
                seen.add(node)
                node = parent.get(node)
            return seen

        for item in items:
            for a, b in zip(item.parent_ids, item.parent_ids[1:], strict=False):
                if a != b and b not in parent and b not in ancestors(a):
                    parent[b] = a
            own = item.parent_ids[-1] if item.parent_ids else None
            edge = self._subject_edge.get(item.key)
            if own is None and edge:
                own = edge[1]
            if own is not None and own != item.node and item.node not in ancestors(own):
                parent[item.node] = own
        real = {item.node for item in items}
        first = {}
        for item in items:
            first.setdefault(item.node, item.order)

        def real_parent(node):
            seen = set()
            node = parent.get(node)
            while node is not None and node not in real and node not in seen:
                seen.add(node)
                node = parent.get(node)
            return node if node in real else None

        children = {}
        roots = []
        for node in sorted(real, key=first.get):
            above = real_parent(node)
            (children.setdefault(above, []) if above else roots).append(node)
        by_node = {}
        for item in items:
            by_node.setdefault(item.node, []).append(item.key)
        result = []
        stack = [(node, 0) for node in reversed(roots)]
        while stack:
            node, depth = stack.pop()
            result.extend((key, depth) for key in by_node[node])
            stack.extend((child, depth + 1) for child in reversed(children.get(node, ())))
        return result

    # -- changes -----------------------------------------------------------------------------

    def add(self, mails):
        """Add mails (:class:`Mail`); a key already known is replaced.

        :returns: an :class:`Update`
        """
        mails = list(mails)
        replaced = [mail.key for mail in mails if mail.key in self._items]
        update = self.remove(replaced) if replaced else Update()
        touched, dirty = set(), set()
        for mail in mails:
            item = _Item(mail)
            self._items[item.key] = item
            owners = self._node_items.get(item.node)
            if owners is None:
                self._node_items[item.node] = {item.key}
            else:
                owners.add(item.key)
            self._ensure(item.node)
            touched.add(item.node)
            for a, b in item.edges:
                self._link(a, b)
                touched.add(a)
            comp = self._comp[item.node]
            if (item.order, item.node) < self._oldest.get(comp, (item.order, item.node)) \
                    or comp not in self._oldest:
                self._oldest[comp] = (item.order, item.node)
            if item.base:
                group = self._subjects.setdefault(item.base, [])
                position = bisect.bisect_left(group, (item.order, item.key))
                group.insert(position, (item.order, item.key))
                self._relink_subject(item.base, position, dirty)
                self._relink_subject(item.base, position + 1, dirty)
        self._settle(touched, dirty, update)
        return update

    def remove(self, keys):
        """Remove mails by key (unknown keys are ignored).

        :returns: an :class:`Update`
        """
        update = Update()
        touched = set()
        for key in keys:
            item = self._items.pop(key, None)
            if item is None:
                continue
            old = self._item_conv.pop(key, None)
            update.conversations[key] = None
            if old:
                update.changed.add(old)
            edge = self._subject_edge.pop(key, None)
            if edge:
                self._unlink(*edge, touched)
            if item.base:
                group = self._subjects[item.base]
                position = bisect.bisect_left(group, (item.order, item.key))
                del group[position]
                if not group:
                    del self._subjects[item.base]
                else:
                    self._relink_subject(item.base, position, touched)
            for a, b in item.edges:
                self._unlink(a, b, touched)
            owners = self._node_items[item.node]
            owners.discard(key)
            if not owners:
                del self._node_items[item.node]
            touched.add(item.node)
        self._settle(set(), touched, update)
        return update

    # -- graph -------------------------------------------------------------------------------

    def _ensure(self, node):
        if node not in self._comp:
            comp = self._next_comp
            self._next_comp += 1
            self._comp[node] = comp
            self._members[comp] = {node}
            if node not in self._adj:
                self._adj[node] = {}

    def _link(self, a, b):
        self._ensure(a)
        self._ensure(b)
        adj_a, adj_b = self._adj[a], self._adj[b]
        adj_a[b] = adj_a.get(b, 0) + 1
        adj_b[a] = adj_b.get(a, 0) + 1
        ca, cb = self._comp[a], self._comp[b]
        if ca != cb:
            # the smaller one is relabelled: a mail costs O(log n) relabellings over a history
            if len(self._members[ca]) < len(self._members[cb]):
                ca, cb = cb, ca
            moved = self._members.pop(cb)
            for node in moved:
                self._comp[node] = ca
            self._members[ca] |= moved
            self._stale |= moved
            self._drop_key(cb)
            oldest = self._oldest.pop(cb, None)
            if oldest is not None and (ca not in self._oldest or oldest < self._oldest[ca]):
                self._oldest[ca] = oldest

    def _unlink(self, a, b, dirty):
        for x, y in ((a, b), (b, a)):
            neighbours = self._adj[x]
            neighbours[y] -= 1
            if neighbours[y] <= 0:
                del neighbours[y]
        dirty.add(a)
        dirty.add(b)

    def _set_key(self, comp, conv):
        self._drop_key(comp)
        self._comp_key[comp] = conv
        self._conv_comp[conv] = comp

    def _drop_key(self, comp):
        conv = self._comp_key.pop(comp, None)
        if conv is not None and self._conv_comp.get(conv) == comp:
            del self._conv_comp[conv]

    def _relink_subject(self, base, position, dirty):
        """(Re)make the subject edge of the mail at ``position`` of its subject group: a
        reference-less reply is linked to the mail just before it."""
        group = self._subjects.get(base)
        if not group or position >= len(group):
            return
        key = group[position][1]
        item = self._items[key]
        old = self._subject_edge.pop(key, None)
        new = None
        if item.refless_reply and position > 0:
            target = self._items[group[position - 1][1]].node
            if target != item.node:
                new = (item.node, target)
        if old == new:
            if new:
                self._subject_edge[key] = new
            return
        if old:
            self._unlink(*old, dirty)
        if new:
            self._subject_edge[key] = new
            self._link(*new)
            dirty.add(new[1])

    def _settle(self, touched, dirty, update):
        """Give every component a change reached its key and record what changed in
        ``update``. Components that lost an edge or a mail (``dirty`` nodes) are walked again:
        they may have split, and nodes nothing holds any more are dropped. Components that only
        grew are not walked: only their new and merged-in mails are looked at, unless their
        oldest mail changed."""
        stale, self._stale = self._stale, set()
        fresh = set()
        for comp in {self._comp[node] for node in dirty if node in self._comp}:
            fresh |= self._split(comp)
        grown = {}
        for node in touched | stale:
            comp = self._comp.get(node)
            if comp is not None and comp not in fresh:
                grown.setdefault(comp, []).append(node)
        for comp in fresh:
            self._rekey(comp, None, update)
        for comp, nodes in grown.items():
            self._rekey(comp, nodes, update)
        update.removed = {conv for conv in update.changed if conv not in self._conv_comp}
        update.changed -= update.removed

    def _rekey(self, comp, nodes, update):
        """Set the key of a component and of its mails (only those of ``nodes`` when the key
        did not change and ``nodes`` is given)."""
        oldest = self._oldest.get(comp)
        if oldest is None:  # no mail: only ids nobody holds any more
            for node in self._members.pop(comp):
                del self._comp[node]
                self._adj.pop(node, None)
            self._drop_key(comp)
            return
        conv = conversation_key(oldest[1])
        if self._comp_key.get(comp) != conv:
            self._set_key(comp, conv)
            nodes = None
        keys = self._comp_items(comp) if nodes is None else [
            key for node in nodes for key in self._node_items.get(node, ())]
        grew = False
        for key in keys:
            before = self._item_conv.get(key)
            if before != conv:
                grew = True
                self._item_conv[key] = conv
                update.conversations[key] = conv
                if before:
                    update.changed.add(before)
        if grew:
            update.changed.add(conv)

    def _split(self, comp):
        """Walk a component; give each connected part its own id and oldest mail. Nodes with
        no edge and no mail are dropped. Returns the ids of the parts."""
        nodes = self._members.pop(comp)
        self._drop_key(comp)
        self._oldest.pop(comp, None)
        for node in nodes:
            self._comp.pop(node, None)
        parts = set()
        for start in nodes:
            if start in self._comp:
                continue
            if not self._adj.get(start) and start not in self._node_items:
                self._adj.pop(start, None)
                continue
            part = self._next_comp
            self._next_comp += 1
            seen = {start}
            self._comp[start] = part
            stack = [start]
            while stack:
                node = stack.pop()
                for neighbour in self._adj[node]:
                    if neighbour not in seen:
                        seen.add(neighbour)
                        self._comp[neighbour] = part
                        stack.append(neighbour)
            self._members[part] = seen
            orders = [(self._items[key].order, node)
                      for node in seen for key in self._node_items.get(node, ())]
            if orders:
                self._oldest[part] = min(orders)
            parts.add(part)
        return parts

    def _comp_items(self, comp):
        keys = []
        for node in self._members[comp]:
            keys.extend(self._node_items.get(node, ()))
        return keys


def thread(mails):
    """Conversations from scratch: ``{mail key: conversation key}``."""
    threader = Threader()
    threader.add(mails)
    return threader.conversations()


def lookup_terms(mail):
    """What finds the conversations a new mail may join, in a store that keeps every mail's
    terms: ``(ids, base)``, the message ids it names (its own first) and its subject's base
    (``""`` when it never merges by subject). A mail joins only conversations holding one of
    these ids, or a mail with the same base."""
    item = _Item(mail)
    own = [item.node] if not item.node.startswith("\x00") else []
    return [*own, *[i for i in item.parent_ids if i != item.node]], item.base
