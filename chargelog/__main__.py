"""``python -m chargelog`` is the ``chargelog`` command."""

import sys

from chargelog.adapters.cli.main import main

sys.exit(main())
