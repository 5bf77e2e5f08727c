from . import test_account
from . import test_sync
from . import test_body
from . import test_webmail_ui
from . import test_controllers
from . import test_tours
from . import test_compose
from . import test_compose_tour
