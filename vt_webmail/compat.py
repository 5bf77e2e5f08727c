"""What differs between Odoo 18.0 and 19.0, in one place: the rest of the addon runs on both.

Each shim detects the feature, never the version number, and says which version needs it and
when it can go. When Odoo 18 support ends, every ``Odoo 18`` branch below goes, and so does the
shim where only the Odoo 19 spelling is left (the callers then use Odoo's API directly).
"""

import contextlib

from odoo import models

try:
    from odoo.fields import Domain  # Odoo 19
except ImportError:  # Odoo 18 (drop with Odoo 18 support)
    Domain = None
    from odoo.osv import expression as _expression


# -- SQL constraints ------------------------------------------------------------------------------


class _SqlConstraint18:
    """Odoo 18's stand-in for ``models.Constraint``: as a class attribute ``_name`` it adds
    ``(name, definition, message)`` to the class's ``_sql_constraints``."""

    def __init__(self, definition, message):
        self.definition, self.message = definition, message

    def __set_name__(self, owner, name):
        # Odoo 19 names the database object "<table>_<attribute without its leading _>"; Odoo
        # 18 names it "<table>_<name>": the same constraint on both, so a database upgraded
        # from 18 to 19 keeps its constraints under the names 19 looks for
        assert name.startswith("_"), "a constraint's attribute name starts with _"
        if "_sql_constraints" not in owner.__dict__:
            owner._sql_constraints = []
        owner._sql_constraints.append((name[1:], self.definition, self.message))


def Constraint(definition, message):
    """A table constraint, declared as a private class attribute of a model:
    ``_folder_uid_unique = Constraint("UNIQUE(folder_id, uidvalidity, uid)", "...")``.

    Odoo 19 ignores ``_sql_constraints`` (with a warning, and without creating the constraints)
    and wants ``models.Constraint``; Odoo 18 has only ``_sql_constraints``. Goes with Odoo 18
    support (then ``models.Constraint`` directly)."""
    if hasattr(models, "Constraint"):  # Odoo 19
        return models.Constraint(definition, message)
    return _SqlConstraint18(definition, message)  # Odoo 18


# -- domains --------------------------------------------------------------------------------------


def domain_and(domains):
    """The conjunction of ``domains``, as a plain domain list. Odoo 19 deprecates
    ``odoo.osv.expression`` for ``fields.Domain``, which Odoo 18 lacks. Goes with Odoo 18
    support (then ``Domain.AND``)."""
    if Domain is not None:  # Odoo 19
        return list(Domain.AND(domains))
    return _expression.AND(domains)  # Odoo 18


def domain_or(domains):
    """The disjunction of ``domains``, as a plain domain list (see :func:`domain_and`)."""
    if Domain is not None:  # Odoo 19
        return list(Domain.OR(domains))
    return _expression.OR(domains)  # Odoo 18


# -- users and groups -----------------------------------------------------------------------------


def file_groups_under(groups, category, privilege_xmlid):
    """Show ``groups`` in the section ``category`` (an ``ir.module.category``) of the user form.

    Odoo 18 links a group to its category (``res.groups.category_id``); Odoo 19 links it to a
    privilege (``res.groups.privilege``, ``privilege_id``) which belongs to the category. On
    19 the privilege is created or updated under ``privilege_xmlid``, like a ``<record>`` of
    the module's XML data (removed with the module). Goes with Odoo 18 support (then the XML
    declares the privilege and ``privilege_id`` itself)."""
    if "privilege_id" in groups._fields:  # Odoo 19
        privilege = groups.env["res.groups.privilege"]._load_records([{
            "xml_id": privilege_xmlid,
            "values": {"name": category.name, "description": category.description,
                       "sequence": category.sequence, "category_id": category.id},
            "noupdate": False,
        }], update=True)
        groups.write({"privilege_id": privilege.id})
    else:  # Odoo 18
        groups.write({"category_id": category.id})


def user_groups_field(users):
    """The name of ``res.users``' groups field: ``groups_id`` in Odoo 18, ``group_ids`` in
    Odoo 19. Goes with Odoo 18 support."""
    return "group_ids" if "group_ids" in users._fields else "groups_id"


def cron_progress(crons, done, remaining):
    """Report a scheduled action's progress: ``done`` items so far (one more since the last
    report), ``remaining`` to go. Odoo 18: ``ir.cron._notify_progress`` (a no-op outside a
    scheduled action). Odoo 19 deprecates it for ``_commit_progress``, which also commits the
    scheduled action's transaction, and commits outside one too: it is called inside one only.
    Goes with Odoo 18 support."""
    if hasattr(crons, "_commit_progress"):  # Odoo 19
        if crons.env.context.get("ir_cron_progress_id"):
            crons._commit_progress(1, remaining=remaining)
        return
    crons._notify_progress(done=done, remaining=remaining)  # Odoo 18


def config_databases(config):
    """The database names of the configuration (``-d``): a comma-separated string in Odoo 18,
    a list in Odoo 19. Goes with Odoo 18 support."""
    names = config["db_name"] or []
    if isinstance(names, str):  # Odoo 18
        names = names.split(",")
    return [name for name in names if name]


def mail_server_connect(mail_servers, **kwargs):
    """An SMTP connection of ``ir.mail_server`` (None while Odoo runs its tests). Odoo 19
    renamed ``connect`` to ``_connect__`` (private: no longer callable over RPC). Goes with
    Odoo 18 support."""
    connect = getattr(mail_servers, "_connect__", None)  # Odoo 19
    if connect is None:  # Odoo 18
        connect = mail_servers.connect
    return connect(**kwargs)


# -- tests only (imported by vt_webmail/tests) -----------------------------------------------------


def enter_registry_test_mode(case_class):
    """Make the registry's new cursors share the test class's transaction (the refresh works on
    a cursor of its own), once per class, as HttpCase does. Odoo 18: ``registry.enter_test_mode``
    (``registry.test_cr`` set while in it); Odoo 19: the class's
    ``registry_enter_test_mode_cls`` (``_registry_patched`` while in it), which also leaves it
    at the end of the class. Goes with Odoo 18 support."""
    if hasattr(case_class, "registry_enter_test_mode_cls"):  # Odoo 19
        if not case_class._registry_patched:
            case_class.registry_enter_test_mode_cls()
    elif case_class.registry.test_cr is None:  # Odoo 18
        case_class.registry.enter_test_mode(case_class.cr)
        case_class.addClassCleanup(case_class.registry.leave_test_mode)


def test_lock_released():
    """A context in which other threads may open test cursors (a refresh in a thread, the HTTP
    server answering the test's own requests). Odoo 19's test cursors take a lock the test's
    thread holds except inside ``release_test_lock()``; Odoo 18's take a lock nobody holds
    meanwhile. Goes with Odoo 18 support."""
    # imported here: odoo.tests is for tests, not loaded with the models
    from odoo.tests import common

    release = getattr(common, "release_test_lock", None)  # Odoo 19
    return release() if release else contextlib.nullcontext()  # Odoo 18


def requests_allowed(http_case):
    """A context in which HTTP requests the test makes with a client of its own (the README's
    XML-RPC and JSON-2 examples) are served: Odoo 19 serves only those carrying the test's key,
    unless inside ``allow_requests(all_requests=True)``; Odoo 18 serves them all. Goes with Odoo
    18 support."""
    allow = getattr(http_case, "allow_requests", None)  # Odoo 19
    return allow(all_requests=True) if allow else contextlib.nullcontext()  # Odoo 18


def xmlrpc_access_error_code():
    """The XML-RPC fault code of an access error (4), from the module serving ``/xmlrpc/2``: the
    ``rpc`` addon in Odoo 19, ``base`` in Odoo 18. Goes with Odoo 18 support."""
    # imported here: a controller of another module, for the tests only
    try:
        from odoo.addons.rpc.controllers.xmlrpc import RPC_FAULT_CODE_ACCESS_ERROR  # Odoo 19
    except ImportError:  # Odoo 18
        from odoo.addons.base.controllers.rpc import RPC_FAULT_CODE_ACCESS_ERROR
    return RPC_FAULT_CODE_ACCESS_ERROR
