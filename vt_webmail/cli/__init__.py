from . import vt_webmail_rekey
from . import vt_webmail_idle
