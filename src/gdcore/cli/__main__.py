"""``python -m gdcore.cli``: the ``gdcore`` command."""

import sys

from gdcore.cli import main

sys.exit(main())
