import { Component, onMounted, onWillUnmount, useState } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";

/**
 * The Undo window's countdown: "Sending in 7 s". When it reaches zero the browser sends the
 * mail (`action_send_now`, which does nothing if the mail was undone, or taken meanwhile by
 * the scheduled action) and shows the outcome. Undo unmounts it, which stops it. The seconds
 * come from the server (`seconds_left`), so the user's clock does not matter.
 */
export class UndoCountdown extends Component {
    static template = "vt_webmail.UndoCountdown";
    static props = standardWidgetProps;

    setup() {
        this.orm = useService("orm");
        this.action = useService("action");
        const seconds = Math.max(0, this.props.record.data.seconds_left || 0);
        this.deadline = Date.now() + seconds * 1000;
        this.state = useState({ left: Math.ceil(seconds) });
        this.fired = false;
        onMounted(() => {
            this.timer = setInterval(() => this.tick(), 200);
            this.tick();
        });
        onWillUnmount(() => clearInterval(this.timer));
    }

    async tick() {
        const left = Math.max(0, Math.ceil((this.deadline - Date.now()) / 1000));
        this.state.left = left;
        if (left > 0 || this.fired) {
            return;
        }
        this.fired = true;
        clearInterval(this.timer);
        const action = await this.orm.call("vt_webmail.outbox", "action_send_now", [
            [this.props.record.resId],
        ]);
        await this.action.doAction(action);
    }
}

registry.category("view_widgets").add("vt_webmail_undo_countdown", { component: UndoCountdown });
