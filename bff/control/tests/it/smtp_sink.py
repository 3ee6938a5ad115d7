"""A real SMTP server (aiosmtpd) for the control plane's tests.

Listens on 127.0.0.1 at a free port, prints `ready <port>` once it accepts connections,
and appends every message it receives to the file named by its argument, one JSON object
per line: the envelope's sender and recipients, the message exactly as received, and its decoded text body.
Runs until its standard input closes.
"""

import email
import email.policy
import json
import socket
import sys

from aiosmtpd.controller import Controller


class Record:
    def __init__(self, path):
        self.path = path

    async def handle_DATA(self, server, session, envelope):
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(json.dumps({
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "data": envelope.original_content.decode("utf-8", "replace"),
                # The text body as a mail client shows it (transfer encoding undone).
                "body": email.message_from_bytes(envelope.original_content, policy=email.policy.default)
                .get_body(preferencelist=("plain",))
                .get_content(),
            }) + "\n")
        return "250 Message accepted for delivery"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    port = free_port()
    controller = Controller(Record(sys.argv[1]), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"ready {port}", flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
