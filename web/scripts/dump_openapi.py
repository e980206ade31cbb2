"""Write the server's OpenAPI schema to web/openapi.json, from `create_app` (no server started).

The TypeScript client (src/api/schema.d.ts) is generated from that file by openapi-typescript:
`npm run gen:api` runs both steps. Neither output is edited by hand.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from despina.server.app import create_app
from despina.server.settings import ServerSettings


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "openapi.json"
    with tempfile.TemporaryDirectory() as home:
        settings = ServerSettings(
            db_url=f"sqlite:///{Path(home) / 'despina.db'}",
            blobs_url=str(Path(home) / "blobs"),
            auth_required=True,
            upgrade_database=True,
        )
        app = create_app(settings)
        schema = app.openapi()
        app.state.despina.close()
    out.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out} ({len(schema['paths'])} paths)")


if __name__ == "__main__":
    main()
