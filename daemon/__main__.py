"""`python -m daemon` runs the same command line as `pledgewatch`."""

from __future__ import annotations

from daemon.cli import main

if __name__ == "__main__":
    main()
