from . import vt_webmail_compose
from . import vt_webmail_message_move
from . import vt_webmail_qualify
from . import vt_webmail_compose_qualify
from . import vt_webmail_compose_templates
