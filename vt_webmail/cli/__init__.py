from . import vt_webmail_rekey
