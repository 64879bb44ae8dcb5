"""`python -m switchboard` runs the console script."""

import sys

from switchboard.cli import main

sys.exit(main())
