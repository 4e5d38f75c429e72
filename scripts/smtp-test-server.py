"""A real SMTP server for the tests (aiosmtpd), on 127.0.0.1:<port>.

Each message it accepts is written as one JSON file ({"mail_from", "rcpt_tos", "data"}) into
<dir>; it prints READY once listening and runs until SIGTERM/SIGINT. The Rust test kit
(crates/testkit/src/smtp.rs) starts, stops and restarts it; scripts/aiosmtpd.sh installs
aiosmtpd into a virtualenv.

Usage: python smtp-test-server.py PORT DIR
"""

import json
import os
import signal
import sys
import threading
import uuid

from aiosmtpd.controller import Controller


class Store:
    def __init__(self, directory):
        self.directory = directory

    async def handle_DATA(self, server, session, envelope):
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "data": envelope.content.decode("utf-8", errors="replace"),
        }
        name = uuid.uuid4().hex
        tmp = os.path.join(self.directory, name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.replace(tmp, os.path.join(self.directory, name + ".json"))
        return "250 Message accepted for delivery"


def main():
    port = int(sys.argv[1])
    directory = sys.argv[2]
    os.makedirs(directory, exist_ok=True)
    controller = Controller(Store(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print("READY", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    controller.stop()


if __name__ == "__main__":
    main()
