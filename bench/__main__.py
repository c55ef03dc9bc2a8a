"""`python -m bench ...` is the `bench` command (subprocesses of the tests and the fault
matrix start it so; `bench.cli` stays an ordinary module the forkserver can preload)."""
import sys

from bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
