from . import vt_webmail_account
from . import vt_webmail_account_oauth
from . import vt_webmail_folder
from . import vt_webmail_message
from . import vt_webmail_trusted_sender
