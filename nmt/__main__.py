import sys

from nmt.cli.main import main

sys.exit(main())
