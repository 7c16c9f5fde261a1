import sys

from nkdash.cli.main import main

sys.exit(main())
