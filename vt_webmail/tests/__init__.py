from . import test_account
from . import test_sync
from . import test_body
