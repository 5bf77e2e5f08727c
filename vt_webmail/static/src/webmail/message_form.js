import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { FormController } from "@web/views/form/form_controller";
import { formView } from "@web/views/form/form_view";

/** Buttons after which the mail is no longer one to show here: back to the list. */
const LEAVING_BUTTONS = ["action_mark_unread", "action_delete"];

/**
 * The Webmail mail form.
 *
 * Opening a mail marks it read (the action's context asks `web_read` to), so after
 * "Mark as unread" the form must not be read again: it goes back to the list, as webmails do.
 * A deleted or moved mail has left the cache: back to the list as well.
 */
export class WebmailFormController extends FormController {
    setup() {
        super.setup();
        this.actionService = useService("action");
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
                onClose: (info) => info?.vt_webmail_moved && this.env.config.historyBack(),
            });
        } else {
            this.env.config.historyBack();
        }
        return false;
    }
}

registry.category("views").add("vt_webmail_message_form", {
    ...formView,
    Controller: WebmailFormController,
});
