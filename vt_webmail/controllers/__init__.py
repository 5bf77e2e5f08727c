from . import main
from . import oauth
