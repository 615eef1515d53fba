"""A small MTProto 2.0 server on 127.0.0.1 for the Telegram API tests: the real Telethon client
talks to it over TCP, encrypted with an auth key the test made.

Written from the protocol's documented structure: the TCP "full" transport (length, sequence
number, payload, CRC32), the encrypted message (auth_key_id, msg_key, AES-256-IGE of salt,
session_id, msg_id, seq_no, length, body, 12 to 1024 bytes of padding), the key derivation of
MTProto 2.0 (msg_key = middle 16 bytes of SHA-256 of a slice of the auth key and the plaintext;
AES key and IV from two SHA-256s, x = 0 from the client, 8 from the server). No key exchange:
the client's session already holds the auth key, so Telegram's RSA key is never needed. Requests
are read with Telethon's BinaryReader; answers are real TL objects (telethon.tl.types) inside
rpc_result, or rpc_error. `answer(request)` decides what each request gets.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telethon.crypto import AES, AuthKey
from telethon.extensions import BinaryReader
from telethon.tl import functions, types
from telethon.tl.core import GzipPacked, MessageContainer

RPC_RESULT = 0xF35C6D01
VECTOR = 0x1CB5C415


@dataclass
class Error:
    """An rpc_error answer: `Error(400, "CHANNEL_PRIVATE")`."""
    code: int
    message: str


def _keys(auth_key: bytes, msg_key: bytes, x: int) -> tuple[bytes, bytes]:
    a = hashlib.sha256(msg_key + auth_key[x:x + 36]).digest()
    b = hashlib.sha256(auth_key[40 + x:76 + x] + msg_key).digest()
    return a[:8] + b[8:24] + a[24:32], b[:8] + a[8:24] + b[24:32]


def tl_bytes(value: Any) -> bytes:
    """A TL object's bytes; a list is a Vector of them."""
    if isinstance(value, list):
        return struct.pack("<Ii", VECTOR, len(value)) + b"".join(tl_bytes(v) for v in value)
    return bytes(value)


def config(dc_id: int, port: int) -> types.Config:
    """help.getConfig's answer: this one DC at 127.0.0.1."""
    now = int(time.time())
    return types.Config(
        date=now, expires=now + 3600, test_mode=False, this_dc=dc_id,
        dc_options=[types.DcOption(id=dc_id, ip_address="127.0.0.1", port=port)], dc_txt_domain_name="localhost",
        chat_size_max=200, megagroup_size_max=200000, forwarded_count_max=100, online_update_period_ms=210000,
        offline_blur_timeout_ms=5000, offline_idle_timeout_ms=30000, online_cloud_timeout_ms=300000,
        notify_cloud_delay_ms=30000, notify_default_delay_ms=1500, push_chat_period_ms=60000, push_chat_limit=2,
        edit_time_limit=172800, revoke_time_limit=2147483647, revoke_pm_time_limit=2147483647, rating_e_decay=2419200,
        stickers_recent_limit=200, channels_read_media_period=604800, call_receive_timeout_ms=20000,
        call_ring_timeout_ms=90000, call_connect_timeout_ms=30000, call_packet_timeout_ms=10000,
        me_url_prefix="https://t.me/", caption_length_max=1024, message_length_max=4096, webfile_dc_id=dc_id)


@dataclass
class MTProtoServer:
    """Serves MTProto on 127.0.0.1 in a thread of its own; `requests` lists what each client asked."""
    answer: Callable[[Any], Any]
    auth_key: bytes = field(default_factory=lambda: os.urandom(256))
    dc_id: int = 2
    requests: list[str] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._key_id = AuthKey(self.auth_key).key_id
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait(10)

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        self._loop.run_forever()
        server.close()

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    # -- one connection ------------------------------------------------------------------------

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(self, writer)
        try:
            while True:
                head = await reader.readexactly(8)
                length, _seq = struct.unpack("<ii", head)
                rest = await reader.readexactly(length - 8)
                body, crc = rest[:-4], struct.unpack("<I", rest[-4:])[0]
                if zlib.crc32(head + body) != crc:
                    raise ValueError("bad CRC32 from the client")
                conn.received(body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


class _Connection:
    def __init__(self, server: MTProtoServer, writer: asyncio.StreamWriter) -> None:
        self.server, self.writer = server, writer
        self.session_id = 0
        self.salt = 0
        self.sent = 0  # transport sequence number
        self.msg_seq = 0

    def received(self, packet: bytes) -> None:
        key = self.server.auth_key
        key_id, msg_key = struct.unpack("<Q", packet[:8])[0], packet[8:24]
        if key_id != self.server._key_id:
            raise ValueError("a message under another auth key")
        aes_key, aes_iv = _keys(key, msg_key, 0)
        plain = AES.decrypt_ige(packet[24:], aes_key, aes_iv)
        if hashlib.sha256(key[88:120] + plain).digest()[8:24] != msg_key:
            raise ValueError("msg_key does not match the plaintext")
        r = BinaryReader(plain)
        self.salt, self.session_id = r.read_long(), r.read_long()
        msg_id, _seqno, length = r.read_long(), r.read_int(), r.read_int()
        self._message(msg_id, BinaryReader(r.read(length)).tgread_object())

    def _message(self, msg_id: int, obj: Any) -> None:
        if isinstance(obj, MessageContainer):
            for inner in obj.messages:
                self._message(inner.msg_id, inner.obj)
            return
        if isinstance(obj, GzipPacked):
            self._message(msg_id, BinaryReader(obj.data).tgread_object())
            return
        if isinstance(obj, types.MsgsAck):
            return
        if isinstance(obj, (functions.PingRequest, functions.PingDelayDisconnectRequest)):
            self.send(types.Pong(msg_id=msg_id, ping_id=obj.ping_id), content=False)
            return
        query = obj
        while isinstance(query, (functions.InvokeWithLayerRequest, functions.InitConnectionRequest,
                                 functions.InvokeWithoutUpdatesRequest)):
            query = query.query
        self.server.requests.append(type(query).__name__)
        if isinstance(query, functions.help.GetConfigRequest):
            result: Any = config(self.server.dc_id, self.server.port)
        else:
            try:
                result = self.server.answer(query)
            except Exception as exc:  # the test's answer is wrong: the client is told, the test fails on it
                result = Error(500, f"TEST_SERVER_{type(exc).__name__}: {exc}"[:200])
        if isinstance(result, Error):
            body = tl_bytes(types.RpcError(error_code=result.code, error_message=result.message))
        else:
            body = tl_bytes(result)
        self.send_raw(struct.pack("<Iq", RPC_RESULT, msg_id) + body)

    def send(self, obj: Any, content: bool = True) -> None:
        self.send_raw(tl_bytes(obj), content)

    def send_raw(self, body: bytes, content: bool = True) -> None:
        key = self.server.auth_key
        # Server msg_ids: the time in the high 32 bits, odd (1 mod 4 for an answer).
        msg_id = (int(time.time()) << 32) | ((self.msg_seq * 4 + 1) & 0xFFFFFFFF)
        seqno = self.msg_seq * 2 + (1 if content else 0)
        self.msg_seq += 1
        plain = struct.pack("<qqqii", self.salt, self.session_id, msg_id, seqno, len(body)) + body
        pad = 12 + (-(len(plain) + 12) % 16)
        plain += os.urandom(pad)
        msg_key = hashlib.sha256(key[96:128] + plain).digest()[8:24]
        aes_key, aes_iv = _keys(key, msg_key, 8)
        packet = struct.pack("<Q", self.server._key_id) + msg_key + AES.encrypt_ige(plain, aes_key, aes_iv)
        frame = struct.pack("<ii", len(packet) + 12, self.sent) + packet
        self.sent += 1
        self.writer.write(frame + struct.pack("<I", zlib.crc32(frame)))
