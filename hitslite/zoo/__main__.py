"""``python -m hitslite.zoo ...``: the zoo's command line (:func:`hitslite.zoo.cli.main`)."""

import sys

from .cli import main

sys.exit(main())
