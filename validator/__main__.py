"""``python -m validator`` runs the CLI."""

import sys

from validator.cli import main

sys.exit(main())
