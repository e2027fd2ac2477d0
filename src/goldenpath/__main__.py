"""python -m goldenpath"""

from __future__ import annotations

from goldenpath.cli.app import main

main()
