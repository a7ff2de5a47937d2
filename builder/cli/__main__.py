"""`python -m ximagenet12_builder.cli`: the `ximagenet12` command."""

import sys

from . import main

sys.exit(main())
