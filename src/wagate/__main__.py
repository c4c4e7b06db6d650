"""``python -m wagate``: the wagate command line."""

import sys

from .cli import main

sys.exit(main())
