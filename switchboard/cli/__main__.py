"""`python -m switchboard.cli` runs the console script (as `python -m switchboard` does)."""

import sys

from switchboard.cli import main

sys.exit(main())
