"""`python -m liaison` runs the command line."""

import sys

from liaison.cli import main

sys.exit(main())
