import sys

from nkdash.cli import main

sys.exit(main())
