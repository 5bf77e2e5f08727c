from . import rekey
from . import idle
