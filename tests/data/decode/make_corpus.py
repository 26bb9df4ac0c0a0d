#!/usr/bin/env python3
"""Builds the `sbrp decode` test corpus from the reference vectors.

    python3 tests/data/decode/make_corpus.py path/to/vectors.json

Every frame byte comes from the vectors of `@sideband/secure-relay` 0.5.0 (handshakes,
messages, frames, decodeErrors); the few frames built here (a replay, a flipped tag byte, a
rewritten nonce direction, Control messages with terminal escapes) are derived from them by
byte edits that are spelled out below. The captures are written as annotated hex (`#`
comments, one frame per line), which `sbrp decode` reads directly. Tests never read the
vectors: they read only the files written here. The expected outputs (`*.out.*`) are
written by `SBRP_BLESS=1 cargo test --test decode` and reviewed by hand.
"""
import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent


def main(vectors_path):
    v = json.loads(Path(vectors_path).read_text())
    hs = v["handshakes"]
    frames = {f["label"]: f["frame"] for f in v["frames"]}
    errors = {e["label"]: e["input"] for e in v["decodeErrors"]}

    def msgs(h, direction, api):
        return [m for m in v["messages"]
                if m["handshake"] == h and m["direction"] == direction and m["api"] == api]

    def write(name, lines):
        (OUT / name).write_text("".join(f"# {c}\n{x}\n" if c else f"{x}\n" for c, x in lines))

    def keylog(name, hand_indices, comment):
        out = [f"# {comment}\n"]
        for i in hand_indices:
            h = hs[i]
            sid = int(h["sessionId"])
            out.append(f"# {h['label']}\n")
            out.append(f"CLIENT_TO_DAEMON {sid:016x} {h['sessionKeys']['clientToDaemon']}\n")
            out.append(f"DAEMON_TO_CLIENT {sid:016x} {h['sessionKeys']['daemonToClient']}\n")
        (OUT / name).write_text("".join(out))

    # 1. One session (handshake 0: daemon-001, sid 1) seen from both sides, with every
    #    frame type around it.
    h0 = hs[0]
    c2d = msgs(0, "client_to_daemon", "encryptClientToDaemon")
    d2c = msgs(0, "daemon_to_client", "encryptDaemonToClient")
    session = [
        ("Ping from the client", frames["Ping len=8"]),
        ("Pong from the relay", frames["Pong len=8"]),
        ("HandshakeInit, sid 1", h0["handshakeInitFrame"]),
        ("HandshakeAccept, daemon-001", h0["handshakeAcceptFrame"]),
        ("Signal ready", frames["Signal Ready/None"]),
        ("client->daemon seq 0", c2d[0]["frame"]),
        ("daemon->client seq 0", d2c[0]["frame"]),
        ("client->daemon seq 1 (empty)", c2d[1]["frame"]),
        ("daemon->client seq 1", d2c[1]["frame"]),
        ("client->daemon seq 2", c2d[2]["frame"]),
        ("client->daemon seq 3 (64 binary bytes)", c2d[3]["frame"]),
        ("daemon->client seq 2 (empty)", d2c[2]["frame"]),
        ("Control session_paused with a message", frames["Control SessionPaused sid=1 message"]),
        ("Signal close/shutdown", frames["Signal Close/Shutdown"]),
    ]
    write("session.hex", session)
    keylog("session.keylog", [0], "keys of handshake 0 of the reference vectors")
    (OUT / "session.client-ephemeral").write_text(h0["clientEphemeralPrivateKey"] + "\n")
    (OUT / "session.daemon-ephemeral").write_text(h0["daemonEphemeralPrivateKey"] + "\n")

    # 2. Several sessions interleaved, both directions, with a replay, a tampered tag and a
    #    frame whose nonce direction was rewritten. The key log lacks handshake 2 (sid max).
    multi = []
    for i in range(4):
        multi.append((f"HandshakeInit, {hs[i]['label']}", hs[i]["handshakeInitFrame"]))
    for i in range(4):
        multi.append((f"HandshakeAccept, {hs[i]['label']}", hs[i]["handshakeAcceptFrame"]))
    for seq in range(3):
        for i in (0, 1, 2, 3):
            multi.append((f"sid {hs[i]['sessionId']} c2d seq {seq}",
                          msgs(i, "client_to_daemon", "encryptClientToDaemon")[seq]["frame"]))
            multi.append((f"sid {hs[i]['sessionId']} d2c seq {seq}",
                          msgs(i, "daemon_to_client", "encryptDaemonToClient")[seq]["frame"]))
    replay = msgs(1, "client_to_daemon", "encryptClientToDaemon")[1]["frame"]
    multi.append(("replay of sid 81985529216486895 c2d seq 1 (sequence_error)", replay))
    t = bytearray.fromhex(msgs(3, "daemon_to_client", "encryptDaemonToClient")[0]["frame"])
    t[-1] ^= 0x01
    multi.append(("sid 42 d2c seq 0 with the last tag byte flipped (decrypt_failed)", t.hex()))
    t = bytearray.fromhex(msgs(0, "daemon_to_client", "encryptDaemonToClient")[1]["frame"])
    t[13 + 3] = 1  # nonce direction 2 -> 1
    multi.append(("sid 1 d2c seq 1 with its nonce direction rewritten to 1", t.hex()))
    last = msgs(0, "client_to_daemon", "encryptClientToDaemon")[3]["frame"]
    multi.append(("sid 1 c2d seq 3", last))
    write("multi.hex", multi)
    keylog("multi.keylog", [0, 1, 3], "keys of handshakes 0, 1 and 3 (not 2)")

    # 3. Every valid frame of the vectors.
    write("all-frames.hex", [(label, f) for label, f in frames.items()])

    # 4. Per-frame violations: decoding goes on after each; the capture ends truncated.
    ok_ping = frames["Ping len=0"]
    bad = [
        "HandshakeInit payload 31", "HandshakeAccept payload 127", "Data payload 27",
        "Signal payload 1", "Signal payload 3", "Signal unknown signal code 0x02",
        "Signal unknown reason 0x05",
        "Ping with 9-byte payload (decodeFrame does NOT enforce the 0-8 limit)",
        "Pong with 100-byte payload (decodeFrame does NOT enforce the 0-8 limit)",
        "Control payload 0", "Control payload 1", "Control unknown code 0x0000",
        "Control unknown code 0x9999", "Control endpoint-only 0xE001 (never on wire)",
        "Control invalid UTF-8 message (replaced with U+FFFD)",
        "Data sid=0", "Ping sid!=0", "Pong sid=max u64", "HandshakeInit sid=0",
    ]
    lines = [(label, errors[label]) for label in bad]
    data_dir3 = bytearray.fromhex(errors["Data payload 28 (minimum, ok)"])
    data_dir3[13:17] = (3).to_bytes(4, "big")
    lines.append(("Data with nonce direction 3", data_dir3.hex()))
    msg = "evil \x1b[31mred\x1b[0m \u202egnp.exe".encode()
    ctl = bytes([0x20]) + (2 + len(msg)).to_bytes(4, "big") + (1).to_bytes(8, "big") \
        + bytes.fromhex("0102") + msg
    lines.append(("Control forbidden with terminal escapes and a bidi override", ctl.hex()))
    # A session whose client Init is here but not its Accept: daemon->client Data contradicts.
    lines.append(("HandshakeInit, sid 1", h0["handshakeInitFrame"]))
    lines.append(("daemon->client Data of sid 1 before any HandshakeAccept",
                  msgs(0, "daemon_to_client", "encryptDaemonToClient")[0]["frame"]))
    lines.append(("a good Ping", ok_ping))
    lines.append(("truncated Data: header says 50, 10 present",
                  errors["truncated payload (header says 50, has 10)"]))
    write("errors.hex", lines)

    # 5. Headers that cannot be trusted: decoding stops.
    write("bad-type.hex", [("a good Ping", ok_ping),
                           ("type 0x99, unknown", errors["unknown type 0x99"]),
                           ("never decoded", ok_ping)])
    write("too-large.hex", [("a good Ping", ok_ping),
                            ("Control claiming 0xffffffff bytes",
                             errors["length 0xffffffff (Control)"]),
                            ("never decoded", ok_ping)])
    write("truncated-header.hex", [("a good Ping", ok_ping),
                                   ("5 bytes of a header", "1000000000")])

    # 6. Signature checks: handshake 0 with a wrong daemon id is handshake_failed; the
    #    UTF-8 daemon id of handshake 2 verifies.
    write("handshake-utf8.hex", [
        (hs[2]["label"], hs[2]["handshakeInitFrame"]),
        (hs[2]["label"], hs[2]["handshakeAcceptFrame"]),
        ("c2d seq 0", msgs(2, "client_to_daemon", "encryptClientToDaemon")[0]["frame"]),
        ("d2c seq 0", msgs(2, "daemon_to_client", "encryptDaemonToClient")[0]["frame"]),
    ])
    (OUT / "handshake-utf8.daemon-id").write_text(hs[2]["daemonId"] + "\n")
    (OUT / "handshake-utf8.daemon-ephemeral").write_text(hs[2]["daemonEphemeralPrivateKey"] + "\n")
    (OUT / "identity-0.pub.hex").write_text(h0["identityPublicKey"] + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
