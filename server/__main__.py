"""``python -m server``: the same as the ``qhall`` command."""

import sys

from server.cli import main

sys.exit(main())
