"""``python -m medtranslate``: the ``medtranslate`` command."""

import sys

from medtranslate.cli import main

sys.exit(main())
