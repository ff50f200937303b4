"""A tiny webhook receiver: prints each event's detail-type, job, state and message.

    python examples/lifecycle/receiver.py 8765      # listens on 127.0.0.1:8765

Standard library only. Point adhere at it with
ADHERE_NOTIFICATION_SINKS='[{"type":"webhook","url":"http://127.0.0.1:8765/"}]'.
"""

from __future__ import annotations

import http.server
import json
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            event = json.loads(body)
            detail = event.get("detail", {})
            print(
                f"{event.get('time')} {event.get('detail-type')}: {detail.get('jobName')} "
                f"{detail.get('state')} - {detail.get('message')}",
                flush=True,
            )
            self.send_response(204)
        except ValueError:
            self.send_response(400)
        self.end_headers()

    def log_message(self, *_: object) -> None:  # quiet: one line per event is enough
        pass


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8765
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"receiver listening on http://127.0.0.1:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
