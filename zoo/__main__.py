import sys

from zoo.cli.app import main

sys.exit(main())
