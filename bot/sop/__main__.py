"""``python -m bot.sop check|preview ...``: the same as ``python -m bot sop ...``."""

import sys

from bot.sop.cli import main

sys.exit(main())
