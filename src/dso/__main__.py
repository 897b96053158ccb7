"""`python -m dso` entry point (same as the `dso` console script)."""

from dso.cli import main

if __name__ == "__main__":
    main()
