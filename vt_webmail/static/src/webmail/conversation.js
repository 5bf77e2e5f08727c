import { Component, markup, onWillStart, useState } from "@odoo/owl";
import { deserializeDateTime, formatDateTime } from "@web/core/l10n/dates";
import { _t } from "@web/core/l10n/translation";
import { ConfirmationDialog } from "@web/core/confirmation_dialog/confirmation_dialog";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";

/** The actions of a mail in the reader: [method, label, icon, key (with Alt), README's table]. */
export const MAIL_ACTIONS = [
    ["action_reply", _t("Reply"), "fa-reply", "shift+r"],
    ["action_reply_all", _t("Reply all"), "fa-reply-all", "shift+e"],
    ["action_forward", _t("Forward"), "fa-share", "shift+f"],
    ["action_archive_mail", _t("Archive"), "fa-archive", "e"],
    ["action_delete", _t("Delete"), "fa-trash-o", "shift+b"],
    ["action_open_qualify", _t("Qualify"), "fa-address-card-o", "l"],
];

/**
 * The reader of a conversation (vt_webmail.conversation's form): its mails oldest first, the
 * user's own replies from Sent included, their quoted text folded (core/quotes.py, a
 * <details> that opens with no script), each with its actions. Opening the conversation
 * fetches the bodies never fetched and marks its mails read (action_read), then shows them
 * (read_mails: a pure read). The newest mail is open, the others show one line until clicked.
 */
export class ConversationMails extends Component {
    static template = "vt_webmail.ConversationMails";
    static props = { record: Object, "*": true };

    setup() {
        this.orm = useService("orm");
        this.action = useService("action");
        this.dialog = useService("dialog");
        /** current: the mail the keys act on (the one opened last; the newest at first) */
        this.state = useState({ mails: [], open: {}, current: false, loading: true });
        onWillStart(() => this.load(true));
    }

    get conversationId() {
        return this.props.record.resId;
    }

    async load(first = false) {
        if (!this.conversationId) {
            return;
        }
        if (first) {
            await this.orm.call("vt_webmail.conversation", "action_read", [[this.conversationId]]);
        }
        const mails = await this.orm.call("vt_webmail.conversation", "read_mails", [
            [this.conversationId],
        ]);
        for (const mail of mails) {
            mail.bodyMarkup = mail.body ? markup(mail.body) : false;
        }
        if (first && mails.length) {
            this.state.open = { [mails[mails.length - 1].id]: true };
            this.state.current = mails[mails.length - 1].id;
        }
        this.state.mails = mails;
        this.state.loading = false;
    }

    get actions() {
        return MAIL_ACTIONS;
    }

    formatDate(value) {
        return value ? formatDateTime(deserializeDateTime(value)) : "";
    }

    toggle(mail) {
        this.state.open[mail.id] = !this.state.open[mail.id];
        if (this.state.open[mail.id]) {
            this.state.current = mail.id;
        }
    }

    /** The key of an action on a mail: on the current mail only (one button per key). */
    key(mail, hotkey) {
        return mail.id === this.state.current && this.state.open[mail.id] ? hotkey : false;
    }

    /** Alt+Shift+N / Alt+Shift+P: open the next (1) or previous (-1) mail, the keys follow. */
    onMove(step) {
        const mails = this.state.mails;
        const index = mails.findIndex((m) => m.id === this.state.current);
        const next = mails[index + step];
        if (next) {
            this.state.open[next.id] = true;
            this.state.current = next.id;
        }
    }

    async onFlag(mail) {
        await this.orm.call("vt_webmail.message", mail.is_flagged ? "action_unflag" : "action_flag", [
            [mail.id],
        ]);
        await this.load();
    }

    async onMarkUnread(mail) {
        await this.orm.call("vt_webmail.message", mail.is_seen ? "action_mark_unread" : "action_mark_read", [
            [mail.id],
        ]);
        await this.load();
    }

    async onOpen(mail) {
        await this.action.doAction({
            type: "ir.actions.act_window",
            res_model: "vt_webmail.message",
            res_id: mail.id,
            views: [[false, "form"]],
            context: { vt_webmail_mark_read: true },
        });
    }

    async onAction(mail, method) {
        if (method === "action_delete" && !(await this.confirm(_t("Delete this mail?")))) {
            return;
        }
        const result = await this.orm.call("vt_webmail.message", method, [[mail.id]], {
            context: this.props.record.context,
        });
        if (result && typeof result === "object" && result.type) {
            await this.action.doAction(result, { onClose: () => this.load() });
        } else {
            await this.load();
        }
    }

    confirm(body) {
        return new Promise((resolve) => {
            this.dialog.add(
                ConfirmationDialog,
                { body, confirm: () => resolve(true), cancel: () => resolve(false) },
                { onClose: () => resolve(false) }
            );
        });
    }
}

registry.category("view_widgets").add("vt_webmail_conversation_mails", {
    component: ConversationMails,
});
