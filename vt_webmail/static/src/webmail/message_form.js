import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { FormController } from "@web/views/form/form_controller";
import { formView } from "@web/views/form/form_view";
import { RelationalModel } from "@web/model/relational_model/relational_model";
import { FetchRecordError } from "@web/model/relational_model/errors";
import { getFieldsSpec } from "@web/model/relational_model/utils";

/** Buttons after which the mail is no longer one to show here: back to the list. */
const LEAVING_BUTTONS = ["action_mark_unread", "action_delete", "action_archive_mail"];

/**
 * The Webmail mail form's model: showing a mail is an action, `action_open` (fetch the body
 * if it was never fetched, mark the mail read: one IMAP session), which also returns the
 * form's fields (its `specification` argument): one request, not an action and then a
 * `web_read`. Reads themselves never touch the mail server. Outside the Webmail views (no
 * `vt_webmail_mark_read` in the context), `action_fetch_body`: flags untouched.
 */
export class WebmailFormModel extends RelationalModel {
    async _loadData(config) {
        // the record this load shows (a mail opened, reached with the pager, or the form
        // reloaded after a button): _loadRecords reads it through the action
        this._vtOpening = config.isMonoRecord && config.resId ? config.resId : false;
        try {
            return await super._loadData(...arguments);
        } catch (error) {
            const pane = config.context.vt_webmail_pane && this.env.vtWebmailPane;
            if (pane && error?.data?.name === "odoo.exceptions.MissingError") {
                // in the reading pane, the mail left while the form was reloading (archived,
                // moved, deleted by a key pressed meanwhile): the pane closes, nothing to show
                pane.onChanged(true);
                return new Promise(() => {});
            }
            throw error;
        } finally {
            this._vtOpening = false;
        }
    }

    async _loadRecords(config, evalContext = config.context) {
        const resIds = config.resId ? [config.resId] : config.resIds;
        const opening = this._vtOpening;
        if (!opening || !config.isMonoRecord || resIds?.length !== 1
                || resIds[0] !== opening) {
            return super._loadRecords(...arguments);
        }
        this._vtOpening = false;
        // only the Webmail views mark read (their action's context says so); elsewhere the
        // form shows the mail with its flags untouched
        const method = config.context.vt_webmail_mark_read ? "action_open" : "action_fetch_body";
        const records = await this.orm.call(config.resModel, method, [resIds], {
            specification: getFieldsSpec(config.activeFields, config.fields, evalContext),
            context: { bin_size: true, ...config.context },
        });
        if (!records.length) {
            throw new FetchRecordError(resIds);
        }
        return records;
    }
}

/**
 * The Webmail mail form.
 *
 * Opening a mail marks it read (WebmailFormModel), so after "Mark as unread" the form must
 * not be loaded again: it goes back to the list, as webmails do. A deleted or moved mail has
 * left the cache: back to the list as well.
 */
export class WebmailFormController extends FormController {
    setup() {
        if (this.props.context?.vt_webmail_pane && this.env.vtWebmailPane) {
            // in the reading pane the breadcrumbs are the list's: the mail does not rename it
            // (this config is the pane's own copy, see View)
            this.env.config.setDisplayName = () => {};
        }
        super.setup();
        this.actionService = useService("action");
    }

    /** In the reading pane (message_list.js), the list beside it is told, not the history. */
    get inPane() {
        return Boolean(this.props.context?.vt_webmail_pane && this.env.vtWebmailPane);
    }

    leave() {
        if (this.inPane) {
            return this.env.vtWebmailPane.onChanged(true);
        }
        return this.env.config.historyBack();
    }

    async afterExecuteActionButton(clickParams) {
        await super.afterExecuteActionButton(...arguments);
        if (this.inPane && clickParams.type === "object") {
            // flags changed: the list beside shows them (not awaited: the form's buttons
            // stay disabled until this returns)
            this.env.vtWebmailPane.onChanged(false);
        }
    }

    async beforeExecuteActionButton(clickParams) {
        const leaving = LEAVING_BUTTONS.includes(clickParams.name);
        const moving = clickParams.name === "action_open_move_wizard";
        if (clickParams.type !== "object" || !(leaving || moving)) {
            return super.beforeExecuteActionButton(...arguments);
        }
        const record = this.model.root;
        const result = await this.orm.call(record.resModel, clickParams.name, [[record.resId]], {
            context: record.context,
        });
        if (moving) {
            await this.actionService.doAction(result, {
                onClose: (info) => info?.vt_webmail_moved && this.leave(),
            });
        } else {
            this.leave();
        }
        return false;
    }
}

registry.category("views").add("vt_webmail_message_form", {
    ...formView,
    Controller: WebmailFormController,
    Model: WebmailFormModel,
});
