from . import vt_webmail_account
from . import vt_webmail_account_oauth
from . import vt_webmail_account_push
from . import vt_webmail_folder
from . import vt_webmail_message
from . import vt_webmail_trusted_sender
from . import vt_webmail_connection_test
from . import res_config_settings
