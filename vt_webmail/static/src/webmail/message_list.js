import { onWillStart, onWillUnmount, useState, useSubEnv } from "@odoo/owl";
import { Dropdown } from "@web/core/dropdown/dropdown";
import { DropdownItem } from "@web/core/dropdown/dropdown_item";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { user } from "@web/core/user";
import { useService } from "@web/core/utils/hooks";
import { SearchPanel } from "@web/search/search_panel/search_panel";
import { ListController } from "@web/views/list/list_controller";
import { listView } from "@web/views/list/list_view";

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
    static components = { ...ListController.components, Dropdown, DropdownItem };

    setup() {
        super.setup();
        this.orm = useService("orm");
        this.notification = useService("notification");
        this.busService = useService("bus_service");
        this.webmail = useState({ accounts: [], checking: false, searching: false });
        /** folder id -> unread count, shown by the search panel (WebmailSearchPanel) */
        this.unread = useState({ counts: {} });
        this.unreadLoads = 0;
        useSubEnv({ vtWebmailUnread: this.unread });
        // also when coming back from a mail: what was read there changed the counts
        onWillStart(() => Promise.all([this.loadAccounts(), this.loadUnreadCounts()]));
        const onRefreshed = (payload) => this.onMailboxRefreshed(payload);
        this.busService.subscribe("vt_webmail.refreshed", onRefreshed);
        this.busService.start();
        onWillUnmount(() => this.busService.unsubscribe("vt_webmail.refreshed", onRefreshed));
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
    Controller: WebmailListController,
    SearchPanel: WebmailSearchPanel,
    buttonTemplate: "vt_webmail.MessageListView.Buttons",
};

registry.category("views").add("vt_webmail_message_list", webmailListView);
