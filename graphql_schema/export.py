"""Write the SDL snapshot: `python -m graphql_schema.export` (or `make schema`)."""

from __future__ import annotations

import sys
from pathlib import Path

from graphql_schema.schema import schema

SNAPSHOT = Path(__file__).resolve().parent.parent / "schema.graphql"


def sdl() -> str:
    return schema.as_str().rstrip() + "\n"


def main() -> None:
    SNAPSHOT.write_text(sdl())
    print(f"wrote {SNAPSHOT}", file=sys.stderr)


if __name__ == "__main__":
    main()
