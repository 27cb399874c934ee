"""A local mail catcher for `make run`: an SMTP server that delivers nowhere.

Every message it accepts is written to DATA_DIR/mail/ as an .eml file (open it with any mail
client) and one line per message is appended to DATA_DIR/mail/index.log and printed:
time, recipient, Message-ID, subject. Usage: python scripts/mail_catcher.py HOST:PORT DIR
"""

from __future__ import annotations

import email
import email.policy
import re
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class _Store:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.count = len(list(folder.glob("*.eml")))

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        self.count += 1
        now = datetime.now(UTC)
        slug = re.sub(r"[^A-Za-z0-9]+", "-", str(msg.get("Subject", "")))[:40].strip("-")
        name = f"{now:%Y%m%dT%H%M%S}-{self.count:04d}-{slug or 'message'}.eml"
        (self.folder / name).write_bytes(raw)
        line = (f"{now.isoformat(timespec='seconds')} to={','.join(envelope.rcpt_tos)} "
                f"id={msg.get('Message-ID')} subject={msg.get('Subject')!r} file={name}")
        with (self.folder / "index.log").open("a", encoding="utf-8") as log:
            log.write(line + "\n")
        print(f"mail catcher: {line}", flush=True)
        return "250 Message accepted"


def main() -> None:
    host, _, port = sys.argv[1].rpartition(":")
    folder = Path(sys.argv[2])
    controller = Controller(_Store(folder), hostname=host or "127.0.0.1", port=int(port))
    controller.start()
    print(f"mail catcher: listening on {host}:{port}, messages in {folder}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    controller.stop()


if __name__ == "__main__":
    main()
