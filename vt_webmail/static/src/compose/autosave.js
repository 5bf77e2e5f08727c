import { Component, onMounted, onWillUnmount, useState } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";

/** How often the composer saves a changed mail as a draft, in milliseconds. */
export const AUTOSAVE_INTERVAL = { ms: 30000 };

/**
 * Auto-save in the composer: every AUTOSAVE_INTERVAL, when something changed since the last
 * time, the window is saved and the mail written to the Drafts folder (`action_autosave`:
 * the new copy replaces the previous one on the server). A failure is shown once, quietly; the
 * user's text stays in the window either way.
 */
export class ComposeAutosave extends Component {
    static template = "vt_webmail.ComposeAutosave";
    static props = standardWidgetProps;

    setup() {
        this.orm = useService("orm");
        this.notification = useService("notification");
        this.busy = false;
        this.warned = false;
        this.state = useState({ savedAt: "" });
        onMounted(() => {
            this.timer = setInterval(() => this.autosave(), AUTOSAVE_INTERVAL.ms);
        });
        onWillUnmount(() => clearInterval(this.timer));
    }

    async autosave() {
        const record = this.props.record;
        if (this.busy || record.isInEdition === false || !(await record.isDirty())) {
            return;
        }
        this.busy = true;
        try {
            if (!(await record.save())) {
                return;
            }
            await this.orm.call("vt_webmail.compose", "action_autosave", [[record.resId]], {});
            this.warned = false;
            this.state.savedAt = new Date().toLocaleTimeString([], {
                hour: "2-digit",
                minute: "2-digit",
            });
        } catch (error) {
            if (!this.warned) {
                this.warned = true;
                this.notification.add(error?.data?.message || String(error), {
                    title: "Draft not saved",
                    type: "warning",
                });
            }
        } finally {
            this.busy = false;
        }
    }
}

registry.category("view_widgets").add("vt_webmail_autosave", { component: ComposeAutosave });
