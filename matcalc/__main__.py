"""``python -m matcalc`` runs the command line."""

import sys

from matcalc.cli import main

sys.exit(main())
