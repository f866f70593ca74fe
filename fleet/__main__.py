import os
import sys

from fleet.cli import main

code = main()
# Exit without freeing a heap of hundreds of MB object by object (seconds), as mypy's hard_exit does.
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
