import sys

from zonal_operator.cli import main

sys.exit(main())
