"""`python -m serving.modelserver`: see `serving.modelserver.cli`."""

import sys

from serving.modelserver.cli import main

sys.exit(main())
