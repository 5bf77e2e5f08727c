from . import vt_webmail_compose
from . import vt_webmail_message_move
