"""An independent relay for tests: Python `websockets`, no sbrp code.

It pairs `sbrp peer daemon --relay` and `sbrp peer client --relay` by the token's `did` and `sid`
(read from the JWT payload, not verified: this is a framing test, not an auth test) and forwards
every binary message unchanged. Every message either side sends must be exactly one SBRP frame:
13 header bytes plus the header's big-endian payload length; every connection must end with a
WebSocket close frame. Prints the port on the first line,
runs until stdin closes, then prints one JSON line of what it saw.
"""

import asyncio
import base64
import json
import struct
import sys
import urllib.parse

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosedError

daemons = {}
clients = {}
seen = {"messages": {"daemon": 0, "client": 0}, "violations": [], "auth": []}


def claims(token):
    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return json.loads(base64.urlsafe_b64decode(payload))


def one_frame(msg, who):
    if not isinstance(msg, bytes):
        seen["violations"].append(f"{who} sent a text message")
        return False
    if len(msg) < 13:
        seen["violations"].append(f"{who} sent {len(msg)} bytes, less than a header")
        return False
    (length,) = struct.unpack(">I", msg[1:5])
    if 13 + length != len(msg):
        seen["violations"].append(
            f"{who} sent a {len(msg)}-byte message whose header announces {13 + length} bytes"
        )
        return False
    seen["messages"][who] += 1
    return True


async def handler(ws):
    query = urllib.parse.parse_qs(urllib.parse.urlparse(ws.request.path).query)
    token = query.get("token", [None])[0]
    if token is not None:
        seen["auth"].append("query")
    else:
        header = ws.request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ")
        seen["auth"].append("header")
    c = claims(token)
    did = c["did"]
    try:
        await forward(ws, c, did)
    except ConnectionClosedError as e:
        # The peer went without a WebSocket close handshake (a dropped TCP connection).
        seen["violations"].append(f"{c['role']} ended without a close frame ({e})")


async def forward(ws, c, did):
    if c["role"] == "daemon":
        daemons[did] = ws
        async for msg in ws:
            if one_frame(msg, "daemon"):
                (sid,) = struct.unpack(">Q", msg[5:13])
                peer = clients.get((did, sid))
                if peer is not None:
                    await peer.send(msg)
    else:
        sid = int.from_bytes(base64.urlsafe_b64decode(c["sid"] + "=" * (-len(c["sid"]) % 4)), "big")
        clients[(did, sid)] = ws
        try:
            async for msg in ws:
                if one_frame(msg, "client") and did in daemons:
                    await daemons[did].send(msg)
        finally:
            clients.pop((did, sid), None)


async def main():
    async with serve(handler, "127.0.0.1", 0, max_size=65549) as server:
        port = server.sockets[0].getsockname()[1]
        print(port, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    print(json.dumps(seen), flush=True)


asyncio.run(main())
