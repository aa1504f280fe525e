import sys

from retail_platform.cli import main

sys.exit(main())
