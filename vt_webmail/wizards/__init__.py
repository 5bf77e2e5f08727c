from . import vt_webmail_message_move
