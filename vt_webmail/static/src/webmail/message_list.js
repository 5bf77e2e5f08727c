import { onMounted, onPatched, onWillStart, onWillUnmount, useState, useSubEnv } from "@odoo/owl";
import { Dropdown } from "@web/core/dropdown/dropdown";
import { DropdownItem } from "@web/core/dropdown/dropdown_item";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { user } from "@web/core/user";
import { ConfirmationDialog } from "@web/core/confirmation_dialog/confirmation_dialog";
import { useService } from "@web/core/utils/hooks";
import { View } from "@web/views/view";
import { SearchPanel } from "@web/search/search_panel/search_panel";
import { ListController } from "@web/views/list/list_controller";
import { listView } from "@web/views/list/list_view";
import { RelationalModel } from "@web/model/relational_model/relational_model";

/**
 * The pager counts at most this many mails matching a Text filter ("1-20 / 1000+"; clicking
 * it counts them all): a frequent word's matches are each tested against the text, so a
 * count bounded at Odoo's 10,000 read ten times as many rows on every page of the filter.
 * Without a Text filter the list's count keeps Odoo's bound.
 */
export const TEXT_COUNT_LIMIT = 1000;

/** Whether ``domain`` (a list) holds a condition on the Text filter's field. */
function hasTextCondition(domain) {
    return Array.isArray(domain)
        && domain.some((leaf) => Array.isArray(leaf) && leaf[0] === "search_text");
}

export class WebmailListModel extends RelationalModel {
    async _loadData(config) {
        const list = !config.isMonoRecord && !config.resIds && !config.groupBy?.length;
        if (list && config.countLimit !== Number.MAX_SAFE_INTEGER) {
            // each load sets the bound again (the filter may have been added or removed);
            // Odoo's load then raises it to the page's end if need be, and the list reads it
            config.countLimit = hasTextCondition(config.domain)
                ? TEXT_COUNT_LIMIT : this.initialCountLimit;
        }
        return super._loadData(...arguments);
    }
}

/**
 * The Webmail list: "Check now", the account switcher, "Search on the server", and new mail
 * shown by itself when a refresh (the scheduled one or another tab's) found some: the server
 * sends `vt_webmail.refreshed` on the bus to the account's owner.
 *
 * Each folder of the search panel shows its unread count (WebmailSearchPanel). The counts are
 * the list's own state, read from vt_webmail.folder when the list is shown and whenever the
 * mail changed: not the panel's category values, which the panel reloads only when the search
 * changes, and which Odoo 19 also caches in the browser (a stale count shown first, and the
 * fresh answer dropped when another load of the panel started meanwhile).
 */
export class WebmailListController extends ListController {
    static template = "vt_webmail.ListView";
    static components = { ...ListController.components, Dropdown, DropdownItem, View };

    setup() {
        super.setup();
        this.orm = useService("orm");
        this.notification = useService("notification");
        this.busService = useService("bus_service");
        this.webmail = useState({ accounts: [], checking: false, searching: false });
        /** folder id -> unread count, shown by the search panel (WebmailSearchPanel) */
        this.unread = useState({ counts: {} });
        this.unreadLoads = 0;
        /** the reading pane (layout "pane"): the mail shown beside the list, and the cursor of
         * the keyboard (the mail next/previous moved to) */
        this.reader = useState({ layout: "list", paneId: false, cursorId: false });
        this.dialog = useService("dialog");
        useSubEnv({
            vtWebmailUnread: this.unread,
            // the pane's form (message_form.js) says when its mail changed or left
            vtWebmailPane: { onChanged: (left) => this.onPaneChanged(left) },
        });
        // also when coming back from a mail: what was read there changed the counts
        onWillStart(() =>
            Promise.all([this.loadAccounts(), this.loadUnreadCounts(), this.loadLayout()])
        );
        onMounted(() => this.showCursor());
        onPatched(() => this.showCursor());
        const onRefreshed = (payload) => this.onMailboxRefreshed(payload);
        this.busService.subscribe("vt_webmail.refreshed", onRefreshed);
        this.busService.start();
        onWillUnmount(() => this.busService.unsubscribe("vt_webmail.refreshed", onRefreshed));
    }

    // -- the reading pane --------------------------------------------------------------------

    get className() {
        const pane = this.reader.layout === "pane" ? " o_vt_webmail_with_pane" : "";
        return `${super.className || ""}${pane}`;
    }

    async loadLayout() {
        const [me] = await this.orm.read("res.users", [user.userId], ["vt_webmail_layout"]);
        this.reader.layout = me?.vt_webmail_layout || "list";
    }

    /** Switch between the list-then-mail layout and the reading pane; remembered (res.users). */
    async onToggleLayout() {
        const layout = this.reader.layout === "pane" ? "list" : "pane";
        await this.orm.write("res.users", [user.userId], { vt_webmail_layout: layout });
        this.reader.layout = layout;
        if (layout === "list") {
            this.reader.paneId = false;
        }
    }

    /** The props of the pane's form: one object per mail shown, so that the list reloading
     * beside it (flags changed...) does not reload the form. */
    get paneProps() {
        const resId = this.reader.paneId;
        if (this._paneProps?.resId !== resId) {
            this._paneProps = {
                type: "form",
                resModel: "vt_webmail.message",
                resId,
                context: { ...this.props.context, vt_webmail_pane: true },
                display: { controlPanel: false },
                className: "o_vt_webmail_pane_form",
            };
        }
        return this._paneProps;
    }

    /** In the reading pane, a mail opens beside the list. */
    async openRecord(record, ...args) {
        if (this.reader.layout !== "pane") {
            return super.openRecord(record, ...args);
        }
        this.reader.cursorId = record.resId;
        if (!record.data.is_seen) {
            // opened (body fetched, marked read) here first, so that the list's row follows;
            // the pane's form then finds nothing left to do
            await this.orm.call("vt_webmail.message", "action_open", [[record.resId]], {
                context: this.props.context,
            });
            await record.load();
        }
        this.reader.paneId = record.resId;
    }

    /** The pane's mail left the list (deleted, moved, marked unread) or changed. */
    async onPaneChanged(left) {
        if (left) {
            this.reader.paneId = false;
        }
        await this.reloadMailbox();
    }

    // -- the keyboard (README, "Keyboard") ---------------------------------------------------

    get records() {
        return this.model.root.records || [];
    }

    get cursorRecord() {
        const id = this.reader.cursorId;
        return (id && this.records.find((r) => r.resId === id)) || false;
    }

    /** The mails an action key acts on: the selection, else the mail under the cursor. */
    async targetIds() {
        const selected = await this.getSelectedResIds();
        if (selected.length) {
            return selected;
        }
        return this.cursorRecord ? [this.cursorRecord.resId] : [];
    }

    showCursor() {
        const root = this.rootRef?.el || document;
        for (const row of root.querySelectorAll(".o_vt_webmail_cursor")) {
            row.classList.remove("o_vt_webmail_cursor");
        }
        const record = this.cursorRecord;
        if (record) {
            root.querySelector(`.o_data_row[data-id="${record.id}"]`)?.classList.add(
                "o_vt_webmail_cursor"
            );
        }
    }

    /** Move the cursor to the next (1) or previous (-1) mail; in the pane, open it there. */
    async onMove(step) {
        const records = this.records;
        if (!records.length) {
            return;
        }
        const index = records.findIndex((r) => r.resId === this.reader.cursorId);
        const next = index < 0 ? (step > 0 ? 0 : records.length - 1) : index + step;
        if (next < 0 || next >= records.length) {
            return;
        }
        this.reader.cursorId = records[next].resId;
        if (this.reader.layout === "pane") {
            await this.openRecord(records[next]);
        }
        this.showCursor();
    }

    async onOpenCursor() {
        const record = this.cursorRecord || this.records[0];
        if (record) {
            this.reader.cursorId = record.resId;
            await this.openRecord(record);
        }
    }

    onFocusSearch() {
        const input = document.querySelector(".o_searchview_input");
        input?.focus();
    }

    async onGoToInbox() {
        const action = this.props.context.vt_webmail_unified
            ? await this.orm.call("vt_webmail.account", "action_open_unified", ["inbox"])
            : await this.orm.call("vt_webmail.account", "action_open_webmail", [
                  this.accountId ? [this.accountId] : [],
              ]);
        await this.actionService.doAction(action, { clearBreadcrumbs: true });
    }

    async onOpenUnified(kind) {
        const action = await this.orm.call("vt_webmail.account", "action_open_unified", [kind]);
        await this.actionService.doAction(action, { clearBreadcrumbs: true });
    }

    /** An action key on the selection or the cursor's mail (list layout). */
    async onMailAction(method) {
        const ids = await this.targetIds();
        if (!ids.length) {
            this.notification.add(_t("Select a mail first (Alt+Shift+N: next mail)."), {
                type: "info",
            });
            return;
        }
        if (method === "action_delete") {
            const confirmed = await new Promise((resolve) => {
                this.dialog.add(
                    ConfirmationDialog,
                    {
                        body: _t("Delete the selected mails?"),
                        confirm: () => resolve(true),
                        cancel: () => resolve(false),
                    },
                    { onClose: () => resolve(false) }
                );
            });
            if (!confirmed) {
                return;
            }
        }
        if (method === "toggle_read" || method === "toggle_flag") {
            const record = this.records.find((r) => r.resId === ids[0]);
            const field = method === "toggle_read" ? "is_seen" : "is_flagged";
            const on = record ? !record.data[field] : true;
            method = {
                toggle_read: on ? "action_mark_read" : "action_mark_unread",
                toggle_flag: on ? "action_flag" : "action_unflag",
            }[method];
        }
        const result = await this.orm.call("vt_webmail.message", method, [ids], {
            context: this.props.context,
        });
        if (result && typeof result === "object" && result.type) {
            await this.actionService.doAction(result, { onClose: () => this.reloadMailbox() });
        }
        await this.reloadMailbox();
    }

    /** The account shown, as set by vt_webmail.account.action_open_webmail(). */
    get accountId() {
        return this.props.context.vt_webmail_account_id || false;
    }

    get currentAccount() {
        return this.webmail.accounts.find((account) => account.id === this.accountId);
    }

    get otherAccounts() {
        return this.webmail.accounts.filter((account) => account.id !== this.accountId);
    }

    /** "Search on the server" is offered while searching, or when the list is empty. */
    get showServerSearch() {
        return this.env.searchModel.facets.length > 0 || this.model.root.count === 0;
    }

    async loadAccounts() {
        this.webmail.accounts = await this.orm.searchRead(
            "vt_webmail.account",
            [["user_id", "=", user.userId]],
            ["email", "from_name", "is_default", "last_error", "auth_method", "needs_sign_in"],
            { order: "is_default desc, id" }
        );
    }

    /** Read the unread count of each folder listed (those of the account shown). */
    async loadUnreadCounts() {
        const load = ++this.unreadLoads;
        const folders = await this.orm.searchRead(
            "vt_webmail.folder",
            this.accountId ? [["account_id", "=", this.accountId]] : [["user_id", "=", user.userId]],
            ["unread_count"]
        );
        if (load === this.unreadLoads) {
            // the answer to the latest load only: an earlier one may answer last
            this.unread.counts = Object.fromEntries(folders.map((f) => [f.id, f.unread_count]));
        }
    }

    /** Read the mail and the unread counts again (new mail, flags changed elsewhere ...). */
    async reloadMailbox() {
        await this.loadUnreadCounts();
        this.env.searchModel.search();
    }

    onMailboxRefreshed(payload) {
        if (this.accountId && payload.account_id !== this.accountId) {
            return;
        }
        if (payload.new) {
            this.notification.add(
                payload.new === 1
                    ? _t("1 new mail")
                    : _t("%(count)s new mails", { count: payload.new }),
                { type: "info" }
            );
        }
        return this.reloadMailbox();
    }

    async beforeExecuteActionButton(clickParams) {
        if (clickParams.type === "object" && clickParams.name === "action_open_move_wizard") {
            // the dialog is opened here so that closing it reads the folders again
            const resIds = await this.getSelectedResIds();
            const action = await this.orm.call("vt_webmail.message", clickParams.name, [resIds], {
                context: this.props.context,
            });
            await this.actionService.doAction(action, {
                onClose: () => this.reloadMailbox(),
            });
            return false;
        }
        return super.beforeExecuteActionButton(...arguments);
    }

    async afterExecuteActionButton(clickParams) {
        await super.afterExecuteActionButton(...arguments);
        if (clickParams.type === "object" && clickParams.name !== "action_open_move_wizard") {
            // marking read, moving, deleting ... changed the unread counts
            await this.loadUnreadCounts();
        }
    }

    async onCheckNow() {
        const accountIds = this.accountId
            ? [this.accountId]
            : this.webmail.accounts.map((account) => account.id);
        if (!accountIds.length) {
            return;
        }
        this.webmail.checking = true;
        try {
            const result = await this.orm.call("vt_webmail.account", "action_refresh", [
                accountIds,
            ]);
            if (result.error) {
                this.notification.add(result.error, {
                    title: result.running ? _t("Already checking") : _t("Could not check mail"),
                    type: result.running ? "info" : "danger",
                });
            } else if (result.new) {
                this.notification.add(
                    result.new === 1
                        ? _t("1 new mail")
                        : _t("%(count)s new mails", { count: result.new }),
                    { type: "success" }
                );
            } else {
                this.notification.add(_t("No new mail."), { type: "info" });
            }
            await Promise.all([this.loadAccounts(), this.reloadMailbox()]);
        } finally {
            this.webmail.checking = false;
        }
    }

    async onSearchServer() {
        this.webmail.searching = true;
        try {
            const action = await this.orm.call(
                "vt_webmail.message",
                "action_search_server",
                [this.model.root.domain],
                { context: this.props.context }
            );
            await this.actionService.doAction(action);
        } finally {
            this.webmail.searching = false;
        }
    }

    /** Accounts whose provider no longer accepts their sign-in (OAuth 2.0). */
    get accountsToSignIn() {
        return this.webmail.accounts.filter((account) => account.needs_sign_in);
    }

    async onSignIn(accountId) {
        const action = await this.orm.call("vt_webmail.account", "action_oauth_sign_in", [
            [accountId],
        ]);
        await this.actionService.doAction(action);
    }

    async onSwitchAccount(accountId) {
        const action = await this.orm.call("vt_webmail.account", "action_open_webmail", [
            [accountId],
        ]);
        await this.actionService.doAction(action, { clearBreadcrumbs: true });
    }
}

/** The search panel of the Webmail list: each folder with its unread count, if any. */
export class WebmailSearchPanel extends SearchPanel {
    static subTemplates = {
        ...SearchPanel.subTemplates,
        category: "vt_webmail.SearchPanel.Category",
    };

    unreadCount(section, valueId) {
        if (section.fieldName !== "folder_id") {
            return 0;
        }
        return this.env.vtWebmailUnread?.counts[valueId] || 0;
    }
}

export const webmailListView = {
    ...listView,
    Model: WebmailListModel,
    Controller: WebmailListController,
    SearchPanel: WebmailSearchPanel,
    buttonTemplate: "vt_webmail.MessageListView.Buttons",
};

registry.category("views").add("vt_webmail_message_list", webmailListView);
